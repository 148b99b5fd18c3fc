package pki

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// File modes used by WriteDir.
const (
	DirMode  fs.FileMode = 0o700
	KeyMode  fs.FileMode = 0o600
	CertMode fs.FileMode = 0o644
)

type bundleFile struct {
	name string
	data []byte
	mode fs.FileMode
}

// files lists the bundle contents in write order: each key is written before
// its certificate, so a watcher reacting to the certificate sees the new key.
func (b *Bundle) files() []bundleFile {
	return []bundleFile{
		{CAKeyFile, b.CAKey, KeyMode},
		{CACertFile, b.CACert, CertMode},
		{KeyFile, b.Key, KeyMode},
		{CertFile, b.Cert, CertMode},
	}
}

// WriteDir writes ca.crt, ca.key, tls.crt and tls.key into dir. Private keys
// get mode 0600 and certificates 0644. If dir does not exist it is created
// with mode 0700; an existing directory keeps its mode.
//
// Unless overwrite is true, WriteDir refuses to replace existing files: it
// then writes nothing and returns an error that wraps fs.ErrExist and names
// the files. Each file is written to a temporary file in dir and renamed into
// place, so readers never see a partially written file.
func (b *Bundle) WriteDir(dir string, overwrite bool) error {
	if b == nil {
		return errors.New("write certificates: nil bundle")
	}
	if dir == "" {
		return errors.New("write certificates: output directory is empty")
	}
	files := b.files()
	for _, f := range files {
		if len(f.data) == 0 {
			return fmt.Errorf("write certificates: bundle has no content for %s", f.name)
		}
	}

	info, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := os.MkdirAll(dir, DirMode); err != nil {
			return fmt.Errorf("create output directory %s: %w", dir, err)
		}
		// MkdirAll is subject to the umask; make the mode exact.
		if err := os.Chmod(dir, DirMode); err != nil {
			return fmt.Errorf("set mode of output directory %s: %w", dir, err)
		}
	case err != nil:
		return fmt.Errorf("output directory %s: %w", dir, err)
	case !info.IsDir():
		return fmt.Errorf("output directory %s: not a directory", dir)
	}

	if !overwrite {
		var existing []string
		for _, f := range files {
			p := filepath.Join(dir, f.name)
			if _, err := os.Lstat(p); err == nil {
				existing = append(existing, f.name)
			} else if !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("check %s: %w", p, err)
			}
		}
		if len(existing) > 0 {
			return fmt.Errorf("refusing to overwrite existing files in %s (%s): %w",
				dir, strings.Join(existing, ", "), fs.ErrExist)
		}
	}

	for _, f := range files {
		if err := writeFileAtomic(filepath.Join(dir, f.name), f.data, f.mode); err != nil {
			return err
		}
	}
	return nil
}

func writeFileAtomic(path string, data []byte, mode fs.FileMode) (err error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
	// CreateTemp uses 0600; set the final mode before any data is written.
	if err := tmp.Chmod(mode); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := tmp.Write(data); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
