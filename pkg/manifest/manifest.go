// Package manifest reads Kubernetes manifests the way `kubectl apply -f`
// takes them: files, folders (recursively) and standard input, holding
// multi-document YAML, JSON, and List kinds.
//
// It holds one document in memory at a time, so input of any size is read
// in bounded memory, and it can read its input more than once (standard
// input is spooled to a temporary file), so a first pass can collect the
// Namespace objects that decide how a second pass judges everything else.
package manifest

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Stdin is the path that names standard input.
const Stdin = "-"

// StdinName is how messages name standard input.
const StdinName = "<stdin>"

// Extensions are the file name endings read from folders. A file named
// on its own is read whatever its name.
var Extensions = []string{".yaml", ".yml", ".json"}

// Set is the input a list of paths names, in order, readable more than once.
type Set struct {
	sources []source
	// spool is the temporary file holding standard input, if read.
	spool string
}

// source is one file of the input.
type source struct {
	name string // as messages show it: the path as found, or StdinName
	path string // the file to open
	json bool   // a stream of JSON values rather than YAML documents
}

// Open resolves paths into a Set: a file is read as named, a folder
// recursively for files ending in one of Extensions (sub-folders whose name
// starts with "." are skipped, as version-control folders are), and Stdin
// is read from stdin into a temporary file, which Close removes. Files are
// read as JSON when named *.json, or, for standard input, when the input
// starts with "{"; otherwise as YAML.
func Open(paths []string, stdin io.Reader) (_ *Set, err error) {
	if len(paths) == 0 {
		return nil, errors.New("no input: name files or folders, or - for standard input")
	}
	s := &Set{}
	defer func() {
		if err != nil {
			_ = s.Close()
		}
	}()
	for _, p := range paths {
		if p == Stdin {
			if s.spool != "" {
				return nil, errors.New("standard input (-) is named more than once")
			}
			if err := s.spoolStdin(stdin); err != nil {
				return nil, err
			}
			continue
		}
		if err := s.add(p); err != nil {
			return nil, err
		}
	}
	return s, nil
}

func (s *Set) add(path string) error {
	info, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("reading %s: %w", path, unwrapPathError(err))
	}
	if !info.IsDir() {
		// Unreadable input is found now, as bad input, not halfway
		// through judging.
		f, err := os.Open(path)
		if err != nil {
			return fmt.Errorf("reading %s: %w", path, unwrapPathError(err))
		}
		_ = f.Close()
		s.sources = append(s.sources, source{name: path, path: path, json: isJSONName(path)})
		return nil
	}
	before := len(s.sources)
	if err := s.walkFolder(path, nil); err != nil {
		return err
	}
	if len(s.sources) == before {
		return fmt.Errorf("nothing to check: %s holds no %s file", path, strings.Join(Extensions, ", "))
	}
	return nil
}

// walkFolder adds the manifest files under dir, in lexical order, following
// symbolic links to files and folders as kubectl does. parents are the
// folders dir lies in, by identity, so that a link back to one of them is
// an error rather than an endless walk.
func (s *Set) walkFolder(dir string, parents []os.FileInfo) error {
	info, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("reading %s: %w", dir, unwrapPathError(err))
	}
	for _, p := range parents {
		if os.SameFile(p, info) {
			return fmt.Errorf("reading %s: a symbolic link loops back to a folder it is in", dir)
		}
	}
	parents = append(parents, info)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("reading %s: %w", dir, unwrapPathError(err))
	}
	for _, e := range entries {
		p := filepath.Join(dir, e.Name())
		target, err := os.Stat(p) // follows links
		if err != nil {
			return fmt.Errorf("reading %s: %w", p, unwrapPathError(err))
		}
		switch {
		case target.IsDir():
			if strings.HasPrefix(e.Name(), ".") {
				continue // version-control and other hidden folders
			}
			if err := s.walkFolder(p, parents); err != nil {
				return err
			}
		case target.Mode().IsRegular() && hasExtension(p):
			s.sources = append(s.sources, source{name: p, path: p, json: isJSONName(p)})
		}
	}
	return nil
}

func (s *Set) spoolStdin(stdin io.Reader) error {
	if stdin == nil {
		return errors.New("standard input (-) is not available")
	}
	f, err := os.CreateTemp("", "failover-webhook-stdin-*")
	if err != nil {
		return fmt.Errorf("spooling standard input: %w", err)
	}
	s.spool = f.Name()
	_, copyErr := io.Copy(f, stdin)
	if err := errors.Join(copyErr, f.Close()); err != nil {
		return fmt.Errorf("spooling standard input: %w", err)
	}
	isJSON, err := startsWithBrace(s.spool)
	if err != nil {
		return err
	}
	s.sources = append(s.sources, source{name: StdinName, path: s.spool, json: isJSON})
	return nil
}

// Close removes the spooled standard input.
func (s *Set) Close() error {
	if s.spool == "" {
		return nil
	}
	err := os.Remove(s.spool)
	s.spool = ""
	return err
}

// Sources returns the names of the files the Set reads, in order.
func (s *Set) Sources() []string {
	names := make([]string, len(s.sources))
	for i, src := range s.sources {
		names[i] = src.name
	}
	return names
}

func hasExtension(path string) bool {
	ext := strings.ToLower(filepath.Ext(path))
	for _, e := range Extensions {
		if ext == e {
			return true
		}
	}
	return false
}

func isJSONName(path string) bool {
	return strings.EqualFold(filepath.Ext(path), ".json")
}

// startsWithBrace reports whether the first non-space byte of the file is
// "{", the start of a JSON object (YAML documents rarely start that way).
func startsWithBrace(path string) (bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return false, err
	}
	defer f.Close()
	buf := make([]byte, 4096)
	for {
		n, err := f.Read(buf)
		for _, b := range buf[:n] {
			switch b {
			case ' ', '\t', '\r', '\n':
				continue
			}
			return b == '{', nil
		}
		if err == io.EOF {
			return false, nil
		}
		if err != nil {
			return false, err
		}
	}
}

// unwrapPathError drops the *fs.PathError wrapper, whose path the caller's
// message already names.
func unwrapPathError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
