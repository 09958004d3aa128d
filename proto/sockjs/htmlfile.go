package sockjs

import (
	"strings"

	"github.com/c1mhq/c1m/wsframe"
)

// htmlfilePage returns the page the htmlfile transport streams into a
// hidden iframe: it hands every frame to the parent's callback cb (valid:
// [a-zA-Z0-9_.]+), padded past 1 KiB so that browsers render it as it
// arrives. The frames follow as script elements calling p("<frame>").
func htmlfilePage(cb string) []byte {
	var b strings.Builder
	b.WriteString("<!doctype html>\n<html><head>\n")
	b.WriteString("  <meta http-equiv=\"X-UA-Compatible\" content=\"IE=edge\" />\n")
	b.WriteString("  <meta http-equiv=\"Content-Type\" content=\"text/html; charset=UTF-8\" />\n")
	b.WriteString("</head><body><h2>Don't panic!</h2>\n  <script>\n    document.domain = document.domain;\n")
	b.WriteString("    var c = parent." + cb + ";\n    c.start();\n")
	b.WriteString("    function p(d) {c.message(d);};\n    window.onload = function() {c.stop();};\n  </script>\n")
	if n := 1024 - b.Len(); n > 0 {
		b.WriteString(strings.Repeat(" ", n))
	}
	b.WriteString("\r\n\r\n")
	return []byte(b.String())
}

// rawFrame returns b as a sealed frame of a stream (chunk or raw), with one
// reference.
func rawFrame(b []byte, chunked bool) *wsframe.Prepared {
	p := wsframe.AcquirePrepared()
	p.B = append(p.B, b...)
	if chunked {
		p.SealChunk()
	} else {
		p.SealRaw()
	}
	return p
}
