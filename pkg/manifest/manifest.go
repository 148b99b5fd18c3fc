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
	"context"
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
	// inputs are the paths named, in order, with the sources each gave.
	inputs []input
	// documents counts, per source, the documents the last Walk read
	// that hold more than spaces and comments.
	documents []int
	// spools are the temporary files holding standard input and other
	// streams (named pipes, devices), which cannot be read twice.
	spools []string
	stdin  bool
}

// input is one path named: its sources are sources[first:end].
type input struct {
	name       string
	folder     bool
	first, end int
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
//
// A named pipe or device named directly is spooled like standard input,
// and read as JSON by its name or, without a manifest extension (as
// /dev/fd/N of a shell's process substitution), by its content.
// Reading a stream stops when ctx is done, with an error naming the
// stream and ctx's cause (a pipe whose writer never closes it is otherwise
// waited for forever); the goroutine blocked on it is left behind, for the
// process to end.
func Open(ctx context.Context, paths []string, stdin io.Reader) (_ *Set, err error) {
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
		in := input{name: p, first: len(s.sources)}
		if p == Stdin {
			if s.stdin {
				return nil, errors.New("standard input (-) is named more than once")
			}
			s.stdin = true
			in.name = StdinName
			if stdin == nil {
				return nil, errors.New("standard input (-) is not available")
			}
			err = s.spool(ctx, StdinName, func() (io.ReadCloser, error) { return io.NopCloser(stdin), nil }, nil)
		} else {
			in.folder, err = s.add(ctx, p)
		}
		if err != nil {
			return nil, err
		}
		in.end = len(s.sources)
		s.inputs = append(s.inputs, in)
	}
	s.documents = make([]int, len(s.sources))
	return s, nil
}

// add adds the file or folder at path, and says whether it is a folder.
func (s *Set) add(ctx context.Context, path string) (folder bool, err error) {
	info, err := os.Stat(path)
	if err != nil {
		return false, fmt.Errorf("reading %s: %w", path, unwrapPathError(err))
	}
	switch {
	case info.IsDir():
		return true, s.walkFolder(path, nil)
	case !info.Mode().IsRegular():
		// A pipe can be read once, and opening one waits for a writer.
		// Process substitution names it /dev/fd/N: without a manifest
		// extension, its content says whether it is JSON, as for stdin.
		var isJSON *bool
		if hasExtension(path) {
			isJSON = new(isJSONName(path))
		}
		return false, s.spool(ctx, path, func() (io.ReadCloser, error) { return os.Open(path) }, isJSON)
	}
	// Unreadable input is found now, as bad input, not halfway through
	// judging.
	f, err := os.Open(path)
	if err != nil {
		return false, fmt.Errorf("reading %s: %w", path, unwrapPathError(err))
	}
	_ = f.Close()
	s.sources = append(s.sources, source{name: path, path: path, json: isJSONName(path)})
	return false, nil
}

// NothingRead returns an error saying "nothing to check" and why, naming
// each input, when the last Walk read no document holding more than
// spaces and comments; nil otherwise. Input that says nothing is most
// often a mistake upstream (a template that rendered nothing, a wrong
// folder), which a check must not pass by silence.
func (s *Set) NothingRead() error {
	for _, n := range s.documents {
		if n > 0 {
			return nil
		}
	}
	why := make([]string, 0, len(s.inputs))
	for _, in := range s.inputs {
		switch files := in.end - in.first; {
		case files == 0:
			why = append(why, fmt.Sprintf("%s holds no %s file", in.name, extensionList()))
		case in.folder:
			why = append(why, fmt.Sprintf("the %d files in %s hold no document", files, in.name))
		default:
			why = append(why, in.name+" holds no document")
		}
	}
	return fmt.Errorf("nothing to check: %s", strings.Join(why, "; "))
}

// extensionList names Extensions as a sentence does: ".a, .b or .c".
func extensionList() string {
	last := len(Extensions) - 1
	if last == 0 {
		return Extensions[0]
	}
	return strings.Join(Extensions[:last], ", ") + " or " + Extensions[last]
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

// spool copies the stream open returns into a temporary file, which is
// read as JSON when isJSON says so or, when it is nil, when the stream
// starts with "{". It gives up when ctx is done, leaving the copy blocked
// in its goroutine: neither opening a named pipe nor reading standard
// input can be interrupted otherwise.
func (s *Set) spool(ctx context.Context, name string, open func() (io.ReadCloser, error), isJSON *bool) error {
	f, err := os.CreateTemp("", "failover-webhook-input-*")
	if err != nil {
		return fmt.Errorf("spooling %s: %w", name, err)
	}
	s.spools = append(s.spools, f.Name())
	done := make(chan error, 1)
	go func() {
		r, err := open()
		if err != nil {
			done <- errors.Join(unwrapPathError(err), f.Close())
			return
		}
		_, err = io.Copy(f, r)
		done <- errors.Join(err, r.Close(), f.Close())
	}()
	select {
	case err = <-done:
	case <-ctx.Done():
		return fmt.Errorf("reading %s: %w", name, context.Cause(ctx))
	}
	if err != nil {
		return fmt.Errorf("reading %s: %w", name, err)
	}
	src := source{name: name, path: f.Name()}
	if isJSON != nil {
		src.json = *isJSON
	} else if src.json, err = startsWithBrace(src.path); err != nil {
		return err
	}
	s.sources = append(s.sources, src)
	return nil
}

// Close removes the spooled streams.
func (s *Set) Close() error {
	var errs []error
	for _, p := range s.spools {
		errs = append(errs, os.Remove(p))
	}
	s.spools = nil
	return errors.Join(errs...)
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
