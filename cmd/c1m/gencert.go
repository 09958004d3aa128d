package main

import (
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/c1mhq/c1m/internal/certs"
)

// runGenCert is `c1m gen-cert`: it writes a self-signed certificate and
// key, to try --tls-cert out and for tests. The certificate is its own CA,
// so a client can trust the certificate file as its CA file.
//
//	c1m gen-cert --cert cert.pem --key key.pem --hosts localhost,127.0.0.1,::1
func runGenCert(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("c1m gen-cert", flag.ContinueOnError)
	fs.SetOutput(stderr)
	certFile := fs.String("cert", "cert.pem", "certificate file to write (PEM; replaced if it exists)")
	keyFile := fs.String("key", "key.pem", "private key file to write (PEM, PKCS #8, mode 0600; replaced if it exists)")
	hosts := fs.String("hosts", "localhost,127.0.0.1,::1", "comma-separated DNS names and IP addresses the certificate is for")
	rsaKey := fs.Bool("rsa", false, "RSA 2048 key instead of ECDSA P-256")
	valid := fs.Duration("valid", 720*time.Hour, "validity from now")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "c1m gen-cert: write a self-signed certificate (its own CA) and key for trying TLS out\n\nUsage: c1m gen-cert [--cert FILE] [--key FILE] [--hosts H,...] [--rsa] [--valid 720h]\n\nThen: c1m --tls-cert FILE --tls-key FILE, and give clients the certificate file as their CA (curl --cacert, Node's ca:, c1m sub --ca).\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return 0
		}
		return 2
	}
	fail := func(code int, format string, a ...any) int {
		fmt.Fprintf(stderr, "c1m gen-cert: "+format+"\n", a...)
		return code
	}
	if fs.NArg() > 0 {
		return fail(2, "unexpected argument %q", fs.Arg(0))
	}
	if *valid <= 0 {
		return fail(2, "--valid %v must be positive", *valid)
	}
	if *certFile == "" || *keyFile == "" || *certFile == *keyFile {
		return fail(2, "--cert and --key must name two files")
	}
	g, err := certs.Generate(certs.GenOptions{Hosts: splitList(*hosts), RSA: *rsaKey, Valid: *valid})
	if err != nil {
		return fail(2, "%v", err)
	}
	if err := g.WriteFiles(*certFile, *keyFile); err != nil {
		return fail(1, "%v", err)
	}
	alg := "ECDSA P-256"
	if *rsaKey {
		alg = "RSA 2048"
	}
	var names []string
	names = append(names, g.Leaf.DNSNames...)
	for _, ip := range g.Leaf.IPAddresses {
		names = append(names, ip.String())
	}
	fmt.Fprintf(stdout, "wrote %s: self-signed certificate (its own CA), %s, serial %s, for %s, valid until %s\n",
		*certFile, alg, certs.SerialOf(g.Leaf), strings.Join(names, ","), g.Leaf.NotAfter.UTC().Format(time.RFC3339))
	fmt.Fprintf(stdout, "wrote %s: its private key (keep it private)\n", *keyFile)
	return 0
}
