// Package web holds the static files of the c1m demo page and the reference
// JavaScript client (c1m.js), embedded into the server binary.
//
// The files are plain ES modules with no build step: index.html, app.js,
// c1m.js, style.css and favicon.svg, plus favicon.ico (rendered from
// favicon.svg by test/browser/favicon-ico.js) for browsers that ask for
// /favicon.ico; and the same ticker over Socket.IO, socketio.html and
// socketio.js, with the official socket.io-client browser bundle and its
// licence in vendor/; and sockjs-client's browser build (vendor/sockjs.min.js,
// at /vendor/sockjs.min.js: the demo page's SockJS transport and the
// server's SockJS iframe page load it from there) with its licence. The
// vendor/ files are copied from the pinned npm packages by vendor/update.mjs,
// never edited. The server mounts Static at "/".
// The npm package files beside them (package.json, c1m.cjs, c1m.d.ts,
// README.md) are not embedded: the page does not need them.
package web

import (
	"embed"
	"io/fs"
)

// FS holds the embedded static files at its root.
//
//go:embed index.html app.js c1m.js style.css favicon.svg favicon.ico
//go:embed socketio.html socketio.js vendor/socket.io.esm.min.js vendor/socket.io-client.LICENSE
//go:embed vendor/sockjs.min.js vendor/sockjs-client.LICENSE
var FS embed.FS

// Static returns the embedded files for http.FileServerFS. The returned file
// system is read-only and safe for concurrent use.
func Static() fs.FS { return FS }

// adminFS holds the operator page of the admin listener (admin/): never
// mounted on the public listener.
//
//go:embed admin/index.html admin/admin.js admin/admin.css
var adminFS embed.FS

// Admin returns the operator page's files (index.html, admin.js,
// admin.css) for the admin listener. Read-only, safe for concurrent use.
func Admin() fs.FS {
	sub, err := fs.Sub(adminFS, "admin")
	if err != nil {
		panic(err) // the directory is embedded above
	}
	return sub
}
