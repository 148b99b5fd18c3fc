// Command gen writes a development CA and a serving certificate for
// failover-webhook into a folder:
//
//	go run ./certs/gen -out certs/out
//	webhook serve --cert-dir certs/out
//
// See certs/README.md.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/failover-webhook/failover-webhook/certs/pki"
)

func main() {
	err := run(os.Args[1:], os.Stdout, os.Stderr)
	switch {
	case err == nil:
	case errors.Is(err, flag.ErrHelp):
		os.Exit(0)
	case errors.As(err, new(usageError)):
		// The flag package has already printed the problem and the usage.
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

// usageError is a flag parsing error that the flag package has already
// reported.
type usageError struct{ error }

func (e usageError) Unwrap() error { return e.error }

func run(args []string, stdout, stderr io.Writer) error {
	flags := flag.NewFlagSet("gen", flag.ContinueOnError)
	flags.SetOutput(stderr)
	out := flags.String("out", filepath.Join("certs", "out"),
		"folder to write ca.crt, ca.key, tls.crt and tls.key into")
	hosts := flags.String("hosts", strings.Join(pki.DefaultHosts, ","),
		"comma separated DNS names and IP addresses for the serving certificate")
	validity := flags.Duration("validity", pki.DefaultValidity,
		fmt.Sprintf("serving certificate lifetime; the CA lives %dx as long", pki.CAValidityFactor))
	force := flags.Bool("force", false, "overwrite existing files in -out")
	flags.Usage = func() {
		fmt.Fprintf(stderr, "Usage: go run ./certs/gen [flags]\n\n"+
			"Writes a development CA and a serving certificate for failover-webhook.\n\nFlags:\n")
		flags.PrintDefaults()
	}
	if err := flags.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err}
	}
	if flags.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q; all options are flags, see -h", flags.Args())
	}
	if *out == "" {
		return errors.New("-out must not be empty")
	}
	if *validity <= 0 {
		return fmt.Errorf("-validity must be positive, got %s", *validity)
	}

	now := time.Now()
	bundle, err := pki.Generate(pki.Options{
		Hosts:    pki.SplitHosts(*hosts),
		Validity: *validity,
		Now:      now,
	})
	switch {
	case errors.Is(err, pki.ErrInvalidHosts):
		return fmt.Errorf("-hosts %q: %w", *hosts, err)
	case errors.Is(err, pki.ErrInvalidValidity):
		return fmt.Errorf("-validity %s: %w", *validity, err)
	case err != nil:
		return err
	}

	if err := bundle.WriteDir(*out, *force); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("%w; pass -force to replace them", err)
		}
		return err
	}

	fmt.Fprintf(stdout, "Wrote %s, %s, %s and %s to %s (valid until %s).\n",
		pki.CACertFile, pki.CAKeyFile, pki.CertFile, pki.KeyFile, *out,
		now.Add(*validity).UTC().Format(time.RFC3339))
	fmt.Fprintf(stdout, "Serve with:  webhook serve --cert-dir %s\n", *out)
	fmt.Fprintf(stdout, "caBundle:    base64 -w0 %s\n", filepath.Join(*out, pki.CACertFile))
	return nil
}
