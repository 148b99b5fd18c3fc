package manifest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// MaxDocumentBytes bounds one document. The API server stores objects of
// at most 1.5 MiB, so anything near this is not a manifest; the bound keeps
// a stray binary or a file without line breaks from filling memory.
const MaxDocumentBytes = 32 << 20

// Chunk is one document of a source, not yet decoded.
type Chunk struct {
	// Source names the file, as found or StdinName.
	Source string
	// Index is the document's position in the source, from 1. Every
	// "---" separator starts a document, empty ones included, except one
	// heading the file.
	Index int
	// Line is the line the document starts on, from 1.
	Line int
	// Data is the document's text; it is only valid during the callback.
	Data []byte
	// JSON marks Data as a JSON value rather than YAML.
	JSON bool
	// Err is set when the document cannot be read: a JSON syntax error
	// (which ends the source) or a document over MaxDocumentBytes.
	Err error
}

// Walk calls fn with every document of every source, in order, reading one
// document at a time. It stops at fn's first error and returns it, and
// returns errors opening or reading files.
// Walk also counts the documents holding more than spaces and comments,
// for NothingRead.
func (s *Set) Walk(fn func(Chunk) error) error {
	for i, src := range s.sources {
		s.documents[i] = 0
		err := src.walk(func(c Chunk) error {
			if c.Err != nil || !isBlank(c.Data) {
				s.documents[i]++
			}
			return fn(c)
		})
		if err != nil {
			return err
		}
	}
	return nil
}

func (src source) walk(fn func(Chunk) error) error {
	f, err := os.Open(src.path)
	if err != nil {
		return fmt.Errorf("reading %s: %w", src.name, unwrapPathError(err))
	}
	defer f.Close()
	if src.json {
		err = src.splitJSON(f, fn)
	} else {
		err = splitYAML(src.name, f, MaxDocumentBytes, fn)
	}
	var read readError
	if errors.As(err, &read) {
		return fmt.Errorf("reading %s: %w", src.name, read.err)
	}
	return err
}

// readError marks a failure of the underlying reader, as opposed to an
// error the callback returned.
type readError struct{ err error }

func (e readError) Error() string { return e.err.Error() }

// splitYAML splits r into YAML documents at "---" lines, as
// k8s.io/apimachinery's YAML reader does (a "---" followed by anything but
// a comment is content), keeping the line each document starts on.
func splitYAML(name string, r io.Reader, maxBytes int, fn func(Chunk) error) error {
	br := bufio.NewReaderSize(r, 64<<10)
	var doc bytes.Buffer
	line := 0      // lines read so far
	start := 1     // line the current document starts on
	index := 0     // documents passed to fn so far
	separated := 0 // separators seen so far
	tooLarge := false
	emit := func(last bool) error {
		defer func() { doc.Reset(); tooLarge = false }()
		blank := isBlank(doc.Bytes())
		// Nothing before a heading separator is a document, nor is
		// whitespace after a closing one, nor an empty file. A document
		// too large to hold is none of these, wherever it is.
		if !tooLarge && blank && ((separated == 0 && !last) || (last && isSpace(doc.Bytes()))) {
			return nil
		}
		index++
		c := Chunk{Source: name, Index: index, Line: start, Data: doc.Bytes()}
		if tooLarge {
			c.Data = nil
			c.Err = fmt.Errorf("%s:%d: document %d is larger than %d MiB; a Kubernetes object is at most 1.5 MiB", name, start, index, maxBytes>>20)
		}
		return fn(c)
	}
	for {
		text, err := readLine(br, maxBytes+1)
		if len(text) > 0 {
			line++
			sep, sepErr := isSeparator(text)
			switch {
			case sepErr != nil:
				return fn(Chunk{Source: name, Index: index + 1, Line: line, Err: &SyntaxError{Source: name, Line: line, Index: index + 1, Msg: sepErr.Error()}})
			case sep:
				if err := emit(false); err != nil {
					return err
				}
				separated++
				start = line + 1
			case !tooLarge:
				if doc.Len()+len(text) > maxBytes {
					tooLarge = true
				} else {
					doc.Write(text)
				}
			}
		}
		if err == io.EOF {
			return emit(true)
		}
		if err != nil {
			return readError{err}
		}
	}
}

// readLine returns the next line with its newline, reading a long line in
// pieces without bufio.Reader's size limit but keeping at most limit bytes
// of it: the rest is read and dropped, so a file without line breaks costs
// no more memory than a document may.
func readLine(br *bufio.Reader, limit int) ([]byte, error) {
	text, err := br.ReadSlice('\n')
	if err != bufio.ErrBufferFull {
		return text, err
	}
	long := append([]byte(nil), text...)
	for err == bufio.ErrBufferFull {
		text, err = br.ReadSlice('\n')
		if len(long) < limit {
			long = append(long, text[:min(len(text), limit-len(long))]...)
		}
	}
	return long, err
}

// isSeparator reports a document separator: "---" at the start of a line,
// followed by nothing but spaces or a comment. Anything else after "---" is
// an error, as in k8s.io/apimachinery/pkg/util/yaml's YAMLReader, which
// kubectl reads with; that reader is not used here because it keeps every
// line whole in memory and counts no lines, and this one reports
// file:line positions within bounded memory.
func isSeparator(line []byte) (bool, error) {
	rest, ok := bytes.CutPrefix(line, []byte("---"))
	if !ok {
		return false, nil
	}
	rest = bytes.TrimSpace(rest)
	if len(rest) > 0 && rest[0] != '#' {
		return false, fmt.Errorf("invalid YAML document separator: %q (only spaces or a comment may follow ---)", rest)
	}
	return true, nil
}

// isBlank reports text holding nothing but spaces and comments.
func isBlank(text []byte) bool {
	for len(text) > 0 {
		var line []byte
		line, text, _ = bytes.Cut(text, []byte("\n"))
		line = bytes.TrimSpace(line)
		if len(line) > 0 && line[0] != '#' {
			return false
		}
	}
	return true
}

func isSpace(text []byte) bool {
	return len(bytes.TrimSpace(text)) == 0
}

// splitJSON reads r as a stream of JSON values (one, usually), keeping the
// line each starts on. A syntax error ends the stream: JSON cannot be
// resynchronised.
func (src source) splitJSON(r io.Reader, fn func(Chunk) error) error {
	cr := &lineCounter{r: r}
	dec := json.NewDecoder(cr)
	// The decoder holds a whole value before returning it: stop it once
	// it has read MaxDocumentBytes past the end of the previous value.
	cr.limit = func(read int64) bool { return read-dec.InputOffset() > MaxDocumentBytes }
	for index := 1; ; index++ {
		var raw json.RawMessage
		err := dec.Decode(&raw)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			var syntax *json.SyntaxError
			switch {
			case errors.Is(err, errValueTooLarge):
				return fn(Chunk{Source: src.name, Index: index, Line: 1, JSON: true, Err: fmt.Errorf("%s: document %d is larger than %d MiB; a Kubernetes object is at most 1.5 MiB", src.name, index, MaxDocumentBytes>>20)})
			case errors.As(err, &syntax):
				line, lineErr := lineAt(src.path, syntax.Offset)
				if lineErr != nil {
					return readError{lineErr}
				}
				return fn(Chunk{Source: src.name, Index: index, Line: line, JSON: true, Err: &SyntaxError{Source: src.name, Line: line, Index: index, Msg: "json: " + err.Error()}})
			case errors.Is(err, io.ErrUnexpectedEOF):
				line := cr.lines + 1
				return fn(Chunk{Source: src.name, Index: index, Line: line, JSON: true, Err: &SyntaxError{Source: src.name, Line: line, Index: index, Msg: "json: unexpected end of input"}})
			}
			return readError{err}
		}
		if len(raw) > MaxDocumentBytes {
			return fn(Chunk{Source: src.name, Index: index, Line: 1, JSON: true, Err: fmt.Errorf("%s: document %d is larger than %d MiB; a Kubernetes object is at most 1.5 MiB", src.name, index, MaxDocumentBytes>>20)})
		}
		// The decoder has read ahead of the value's end; what it holds
		// unread tells how many of the counted lines lie beyond it.
		ahead, _ := io.ReadAll(dec.Buffered())
		endLine := cr.lines + 1 - bytes.Count(ahead, []byte("\n"))
		line := endLine - bytes.Count(raw, []byte("\n"))
		if err := fn(Chunk{Source: src.name, Index: index, Line: line, Data: raw, JSON: true}); err != nil {
			return err
		}
	}
}

// lineCounter counts the line breaks read through it, and fails once
// limit, given the bytes read so far, says so.
type lineCounter struct {
	r     io.Reader
	lines int
	read  int64
	limit func(read int64) bool
}

// errValueTooLarge stops a JSON value over MaxDocumentBytes.
var errValueTooLarge = errors.New("JSON value too large")

func (c *lineCounter) Read(p []byte) (int, error) {
	if c.limit != nil && c.limit(c.read) {
		return 0, errValueTooLarge
	}
	n, err := c.r.Read(p)
	c.lines += bytes.Count(p[:n], []byte("\n"))
	c.read += int64(n)
	return n, err
}

// lineAt returns the line holding the byte before offset (json's
// SyntaxError offsets point just past the offending byte).
func lineAt(path string, offset int64) (int, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	counter := &lineCounter{r: io.LimitReader(f, max(offset-1, 0))}
	if _, err := io.Copy(io.Discard, counter); err != nil {
		return 0, err
	}
	return counter.lines + 1, nil
}

// SyntaxError is a document that is not valid YAML or JSON, at the line
// of the source the parser names (or the document's first line when it
// names none).
type SyntaxError struct {
	Source string
	Line   int
	Index  int
	Msg    string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("%s:%d: %s (document %d)", e.Source, e.Line, strings.TrimSpace(e.Msg), e.Index)
}
