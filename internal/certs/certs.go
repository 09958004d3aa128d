// Package certs serves a TLS certificate from a PEM certificate and key
// file pair and replaces it while the process runs: on demand (Reload, e.g.
// on SIGHUP) and when the files change (Watch, which polls their stat so
// that it also sees the symlink swaps Kubernetes does for mounted secrets).
// A pair that cannot be loaded never replaces the one being served.
//
// It also generates self-signed certificates (Generate) for trying TLS out
// and for tests.
//
// A Reloader is safe for concurrent use: GetCertificate is lock-free (one
// atomic load per handshake), Reload and Watch may run at the same time from
// any goroutines.
package certs

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Reloader holds the certificate loaded from a key pair's files and
// replaces it when asked to or when the files change. Use it as
// tls.Config.GetCertificate.
type Reloader struct {
	certFile, keyFile string
	log               *slog.Logger

	cur atomic.Pointer[loaded]

	// mu serializes loads and guards seen.
	mu   sync.Mutex
	seen stamp // the files' stat at the last load attempt

	reloads, failed atomic.Uint64
	lastErr         atomic.Pointer[string]
}

// loaded is one certificate being served.
type loaded struct {
	cert *tls.Certificate
	leaf *x509.Certificate
}

// stamp is what Watch compares: both files' stat (after symlinks).
type stamp struct {
	cert, key fileStamp
}

type fileStamp struct {
	mtime time.Time
	size  int64
	dev   uint64
	ino   uint64
}

// Stats is a Reloader's state, for /stats.
type Stats struct {
	CertFile string    `json:"cert_file"`
	KeyFile  string    `json:"key_file"`
	Subject  string    `json:"subject"`
	NotAfter time.Time `json:"not_after"`
	// Serial is the serial number in upper-case hex, as `openssl x509
	// -serial` prints it.
	Serial       string `json:"serial"`
	Reloads      uint64 `json:"reloads"`       // successful reloads (not the first load)
	ReloadErrors uint64 `json:"reload_errors"` // reloads that failed and kept the current certificate
	LastError    string `json:"last_error,omitempty"`
}

// New loads the key pair in certFile and keyFile (PEM). It fails when they
// cannot be loaded. log, nil means slog.Default(), gets a line per reload.
func New(certFile, keyFile string, log *slog.Logger) (*Reloader, error) {
	if log == nil {
		log = slog.Default()
	}
	r := &Reloader{certFile: certFile, keyFile: keyFile, log: log}
	st, _ := r.stat() // a file missing shows up in the load below
	l, err := load(certFile, keyFile)
	if err != nil {
		return nil, err
	}
	r.seen = st
	r.cur.Store(l)
	return r, nil
}

// load reads and parses a key pair.
func load(certFile, keyFile string) (*loaded, error) {
	cb, err := os.ReadFile(certFile)
	if err != nil {
		return nil, fmt.Errorf("tls certificate: %w", err)
	}
	kb, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, fmt.Errorf("tls key: %w", err)
	}
	cert, err := tls.X509KeyPair(cb, kb)
	if err != nil {
		return nil, fmt.Errorf("tls key pair %s, %s: %w", certFile, keyFile, err)
	}
	leaf := cert.Leaf
	if leaf == nil {
		if leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return nil, fmt.Errorf("tls certificate %s: %w", certFile, err)
		}
		cert.Leaf = leaf
	}
	return &loaded{cert: &cert, leaf: leaf}, nil
}

// GetCertificate returns the current certificate whatever the hello asks
// for; it is tls.Config.GetCertificate.
func (r *Reloader) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return r.cur.Load().cert, nil
}

// Certificate returns the certificate being served now.
func (r *Reloader) Certificate() *tls.Certificate { return r.cur.Load().cert }

// Reload loads the files again and serves the new pair from the next
// handshake on; connections already open keep theirs. When the new pair
// cannot be loaded the current certificate stays, the failure is logged and
// counted, and the error returned.
func (r *Reloader) Reload() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	st, _ := r.stat()
	return r.reloadLocked(st)
}

func (r *Reloader) reloadLocked(st stamp) error {
	r.seen = st
	l, err := load(r.certFile, r.keyFile)
	if err != nil {
		r.failed.Add(1)
		msg := err.Error()
		r.lastErr.Store(&msg)
		r.log.Error("tls certificate reload failed: keeping the current certificate",
			"err", err, "serial", serial(r.cur.Load().leaf), "not_after", r.cur.Load().leaf.NotAfter)
		return err
	}
	old := r.cur.Swap(l)
	r.reloads.Add(1)
	r.lastErr.Store(nil)
	r.log.Info("tls certificate reloaded", "serial", serial(l.leaf), "not_after", l.leaf.NotAfter,
		"subject", l.leaf.Subject.String(), "old_serial", serial(old.leaf))
	if time.Now().After(l.leaf.NotAfter) {
		r.log.Warn("tls certificate has expired", "serial", serial(l.leaf), "not_after", l.leaf.NotAfter)
	}
	return nil
}

// Watch polls the files' stat (modification time, size, device and inode,
// following symlinks) every interval and reloads once a change has held
// still for one interval (so a certificate and key written one after the
// other load as a pair), until ctx is done: a change is served within two
// intervals. A change that does not load is logged and counted once and
// retried at the next change. It blocks: run it in a goroutine.
func (r *Reloader) Watch(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	var pending stamp
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		st, err := r.stat()
		if err != nil {
			continue // mid-swap, or gone: the current certificate stays
		}
		r.mu.Lock()
		switch {
		case st == r.seen:
		case st == pending:
			_ = r.reloadLocked(st) // logged and counted
		default:
			pending = st // changed: load once it holds still for an interval
		}
		r.mu.Unlock()
	}
}

func (r *Reloader) stat() (stamp, error) {
	c, err := statFile(r.certFile)
	if err != nil {
		return stamp{}, err
	}
	k, err := statFile(r.keyFile)
	if err != nil {
		return stamp{}, err
	}
	return stamp{cert: c, key: k}, nil
}

func statFile(name string) (fileStamp, error) {
	fi, err := os.Stat(name)
	if err != nil {
		return fileStamp{}, fmt.Errorf("tls: %w", err)
	}
	fs := fileStamp{mtime: fi.ModTime(), size: fi.Size()}
	if sys, ok := fi.Sys().(*syscall.Stat_t); ok {
		fs.dev, fs.ino = uint64(sys.Dev), sys.Ino //nolint:unconvert // Dev's type differs by platform
	}
	return fs, nil
}

// Reloads returns how many reloads succeeded (the first load not counted).
func (r *Reloader) Reloads() uint64 { return r.reloads.Load() }

// ReloadErrors returns how many reloads failed and kept the certificate.
func (r *Reloader) ReloadErrors() uint64 { return r.failed.Load() }

// NotAfter returns the end of the current certificate's validity.
func (r *Reloader) NotAfter() time.Time { return r.cur.Load().leaf.NotAfter }

// Serial returns the current certificate's serial number in upper-case
// hex.
func (r *Reloader) Serial() string { return serial(r.cur.Load().leaf) }

// Leaf returns the current certificate, parsed.
func (r *Reloader) Leaf() *x509.Certificate { return r.cur.Load().leaf }

// Stats returns the Reloader's state.
func (r *Reloader) Stats() Stats {
	l := r.cur.Load()
	st := Stats{CertFile: r.certFile, KeyFile: r.keyFile, Subject: l.leaf.Subject.String(), NotAfter: l.leaf.NotAfter,
		Serial: serial(l.leaf), Reloads: r.reloads.Load(), ReloadErrors: r.failed.Load()}
	if e := r.lastErr.Load(); e != nil {
		st.LastError = *e
	}
	return st
}

func serial(c *x509.Certificate) string {
	if c == nil || c.SerialNumber == nil {
		return ""
	}
	h := strings.ToUpper(c.SerialNumber.Text(16))
	if len(h)%2 == 1 {
		h = "0" + h // whole bytes, as openssl x509 -serial prints it
	}
	return h
}

// SerialOf formats a certificate's serial number as Serial does.
func SerialOf(c *x509.Certificate) string { return serial(c) }

// errNoHosts is Generate's error for an empty host list.
var errNoHosts = errors.New("no hosts: name at least one DNS name or IP address")
