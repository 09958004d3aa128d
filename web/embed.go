// Package web holds the static files of the c1m demo page and the reference
// JavaScript client (c1m.js), embedded into the server binary.
//
// The files are plain ES modules with no build step: index.html, app.js,
// c1m.js and style.css. The server mounts Static at "/".
package web

import (
	"embed"
	"io/fs"
)

// FS holds the embedded static files at its root.
//
//go:embed index.html app.js c1m.js style.css
var FS embed.FS

// Static returns the embedded files for http.FileServerFS. The returned file
// system is read-only and safe for concurrent use.
func Static() fs.FS { return FS }
