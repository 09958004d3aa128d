package web

import (
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestStaticServesDemo(t *testing.T) {
	srv := httptest.NewServer(http.FileServerFS(Static()))
	defer srv.Close()
	for _, tc := range []struct{ path, ctype, contains string }{
		{"/", "text/html", `<script type="module" src="app.js">`},
		{"/c1m.js", "javascript", "export class Client"},
		{"/app.js", "javascript", "from './c1m.js'"},
		{"/style.css", "text/css", "--bg"},
		{"/favicon.svg", "image/svg+xml", "<svg"},
		{"/favicon.ico", "image/", "PNG"},
		{"/socketio.html", "text/html", `<script type="module" src="socketio.js">`},
		{"/socketio.js", "javascript", "from './vendor/socket.io.esm.min.js'"},
		{"/vendor/socket.io.esm.min.js", "javascript", "Released under the MIT License"},
		{"/vendor/socket.io-client.LICENSE", "", "Permission is hereby granted"},
		{"/vendor/sockjs.min.js", "javascript", "sockjs-client v1."},
		{"/vendor/sockjs-client.LICENSE", "", "Permission is hereby granted"},
	} {
		resp, err := http.Get(srv.URL + tc.path)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != 200 || !strings.Contains(resp.Header.Get("Content-Type"), tc.ctype) ||
			!strings.Contains(string(body), tc.contains) {
			t.Errorf("GET %s: %d %q, want type %q and body containing %q", tc.path, resp.StatusCode,
				resp.Header.Get("Content-Type"), tc.ctype, tc.contains)
		}
	}
}

func TestStaticOnlyAssets(t *testing.T) {
	var names []string
	fs.WalkDir(Static(), ".", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			names = append(names, p)
		}
		return nil
	})
	if strings.Join(names, ",") != "app.js,c1m.js,favicon.ico,favicon.svg,index.html,socketio.html,socketio.js,style.css,"+
		"vendor/socket.io-client.LICENSE,vendor/socket.io.esm.min.js,vendor/sockjs-client.LICENSE,vendor/sockjs.min.js" {
		t.Fatalf("embedded files = %v", names)
	}
}
