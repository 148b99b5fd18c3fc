package manifest

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
)

// document is what a test expects of one document: where it starts, the
// kinds of its objects (with their List item positions), and its notes.
type document struct {
	index, line int
	objects     []string // "apiVersion Kind" or "apiVersion Kind #item"
	notes       []string
	err         string // a SyntaxError's text
}

// readAll reads every document of the Set.
func readAll(t *testing.T, s *Set) []document {
	t.Helper()
	var docs []document
	err := s.Walk(func(c Chunk) error {
		doc, err := c.Decode()
		d := document{index: doc.Index, line: doc.Line, notes: doc.Notes}
		if err != nil {
			var syntax *SyntaxError
			if !errors.As(err, &syntax) {
				return fmt.Errorf("document %d: %v is not a *SyntaxError", c.Index, err)
			}
			d.err = err.Error()
		}
		for _, o := range doc.Objects {
			s := o.GVK.GroupVersion().String() + " " + o.GVK.Kind
			if o.Item > 0 {
				s += fmt.Sprintf(" #%d", o.Item)
			}
			d.objects = append(d.objects, s)
		}
		docs = append(docs, d)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return docs
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// read reads content as one file named name.
func read(t *testing.T, name, content string) []document {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	writeFile(t, path, content)
	s, err := Open(t.Context(), []string{path}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	docs := readAll(t, s)
	for i := range docs {
		docs[i].err = strings.ReplaceAll(docs[i].err, path, name)
	}
	return docs
}

const service = "apiVersion: v1\nkind: Service\nmetadata:\n  name: a\n"

func TestDocuments(t *testing.T) {
	tests := map[string]struct {
		name    string // file name; default in.yaml
		content string
		want    []document
	}{
		"one document": {
			content: service,
			want:    []document{{index: 1, line: 1, objects: []string{"v1 Service"}}},
		},
		"documents split at --- lines keep the line they start on": {
			content: service + "---\n" + "# a comment\n" + service + "--- # trailing comment\n" + service,
			want: []document{
				{index: 1, line: 1, objects: []string{"v1 Service"}},
				{index: 2, line: 6, objects: []string{"v1 Service"}},
				{index: 3, line: 12, objects: []string{"v1 Service"}},
			},
		},
		"a --- heading the file starts no document": {
			content: "# header\n---\n" + service,
			want:    []document{{index: 1, line: 3, objects: []string{"v1 Service"}}},
		},
		"a --- ending the file starts no document": {
			content: service + "---\n\n",
			want:    []document{{index: 1, line: 1, objects: []string{"v1 Service"}}},
		},
		"an empty document between separators counts, with a note": {
			content: service + "---\n---\n" + service,
			want: []document{
				{index: 1, line: 1, objects: []string{"v1 Service"}},
				{index: 2, line: 6, notes: []string{"empty document"}},
				{index: 3, line: 7, objects: []string{"v1 Service"}},
			},
		},
		"a document of comments only is empty": {
			content: "---\n# Source: chart/templates/empty.yaml\n---\n" + service,
			want: []document{
				{index: 1, line: 2, notes: []string{"empty document"}},
				{index: 2, line: 4, objects: []string{"v1 Service"}},
			},
		},
		"an empty file has no documents": {
			content: "\n\n",
		},
		"--- followed by content is an invalid separator, as in Kubernetes' reader": {
			content: "apiVersion: v1\nkind: Service\n---x: 1\n",
			want:    []document{{index: 1, line: 3, err: `in.yaml:3: invalid YAML document separator: "x: 1" (only spaces or a comment may follow ---) (document 1)`}},
		},
		"--- followed by a comment separates": {
			content: service + "--- # next\n" + service,
			want: []document{
				{index: 1, line: 1, objects: []string{"v1 Service"}},
				{index: 2, line: 6, objects: []string{"v1 Service"}},
			},
		},
		"Windows line endings": {
			content: strings.ReplaceAll(service+"---\n"+service, "\n", "\r\n"),
			want: []document{
				{index: 1, line: 1, objects: []string{"v1 Service"}},
				{index: 2, line: 6, objects: []string{"v1 Service"}},
			},
		},
		"a List's items are its objects": {
			content: "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Service\n  metadata: {name: a}\n" +
				"- apiVersion: networking.istio.io/v1\n  kind: DestinationRule\n  metadata: {name: b}\n",
			want: []document{{index: 1, line: 1, objects: []string{"v1 Service #1", "networking.istio.io/v1 DestinationRule #2"}}},
		},
		"a typed List's items are its objects": {
			content: "apiVersion: networking.istio.io/v1\nkind: DestinationRuleList\nitems:\n- {apiVersion: networking.istio.io/v1, kind: DestinationRule, metadata: {name: a}}\n",
			want:    []document{{index: 1, line: 1, objects: []string{"networking.istio.io/v1 DestinationRule #1"}}},
		},
		"List items that are not objects are noted": {
			content: "apiVersion: v1\nkind: List\nitems:\n- 42\n- {kind: Service}\n- {apiVersion: v1, kind: List, items: []}\n- {apiVersion: v1, kind: Service}\n",
			want: []document{{index: 1, line: 1, objects: []string{"v1 Service #4"}, notes: []string{
				"item 1 of the List is not a Kubernetes object: a number, not a mapping",
				"item 2 of the List is not a Kubernetes object: kind Service without an apiVersion",
				"item 3 of the List is a List; Lists inside Lists are not read",
			}}},
		},
		"a kind ending in List without items is an object": {
			content: "apiVersion: example.com/v1\nkind: AllowList\nspec: {}\n",
			want:    []document{{index: 1, line: 1, objects: []string{"example.com/v1 AllowList"}}},
		},
		"an empty List holds nothing": {
			content: "apiVersion: v1\nkind: List\nitems: []\n",
			want:    []document{{index: 1, line: 1}},
		},
		"documents that are not Kubernetes objects are noted": {
			content: "just a string\n---\n- a\n- b\n---\n42\n---\ntrue\n---\nmetadata: {name: x}\n---\napiVersion: v1\n---\nkind: Service\n---\napiVersion: a/b/c\nkind: Service\n",
			want: []document{
				{index: 1, line: 1, notes: []string{"not a Kubernetes object: a string, not a mapping"}},
				{index: 2, line: 3, notes: []string{"not a Kubernetes object: a list of values, not a mapping"}},
				{index: 3, line: 6, notes: []string{"not a Kubernetes object: a number, not a mapping"}},
				{index: 4, line: 8, notes: []string{"not a Kubernetes object: a boolean, not a mapping"}},
				{index: 5, line: 10, notes: []string{"not a Kubernetes object: no apiVersion and no kind"}},
				{index: 6, line: 12, notes: []string{"not a Kubernetes object: no kind"}},
				{index: 7, line: 14, notes: []string{"not a Kubernetes object: kind Service without an apiVersion"}},
				{index: 8, line: 16, notes: []string{`not a Kubernetes object: unexpected GroupVersion string: a/b/c`}},
			},
		},
		"a kind that is not a string is noted": {
			content: "apiVersion: v1\nkind: [Service]\n",
			want:    []document{{index: 1, line: 1, notes: []string{"not a Kubernetes object: json: cannot unmarshal array into Go struct field typeMeta.kind of type string"}}},
		},
		"a YAML syntax error names the line in the file": {
			content: service + "---\n" + service + "---\napiVersion: v1\nkind: Service\nmetadata:\n  name: b\n  labels:\n    failover: cluster: yes\n---\n" + service,
			want: []document{
				{index: 1, line: 1, objects: []string{"v1 Service"}},
				{index: 2, line: 6, objects: []string{"v1 Service"}},
				{index: 3, line: 11, err: "in.yaml:16: yaml: mapping values are not allowed in this context (document 3)"},
				{index: 4, line: 18, objects: []string{"v1 Service"}},
			},
		},
		"a YAML error without a line is placed at the document's first line": {
			content: service + "---\n\tkind: Service\n",
			want: []document{
				{index: 1, line: 1, objects: []string{"v1 Service"}},
				{index: 2, line: 6, err: "in.yaml:6: yaml: found character that cannot start any token (document 2)"},
			},
		},
		"a JSON file": {
			name:    "in.json",
			content: "\n\n{\n  \"apiVersion\": \"v1\",\n  \"kind\": \"Service\"\n}\n",
			want:    []document{{index: 1, line: 3, objects: []string{"v1 Service"}}},
		},
		"a JSON file of several values": {
			name:    "in.json",
			content: "{\"apiVersion\": \"v1\", \"kind\": \"Service\"}\n{\n\"apiVersion\": \"v1\",\n\"kind\": \"Namespace\"}\n\n  {\"apiVersion\": \"v1\", \"kind\": \"List\", \"items\": [{\"apiVersion\": \"v1\", \"kind\": \"Service\"}]}",
			want: []document{
				{index: 1, line: 1, objects: []string{"v1 Service"}},
				{index: 2, line: 2, objects: []string{"v1 Namespace"}},
				{index: 3, line: 6, objects: []string{"v1 Service #1"}},
			},
		},
		"a JSON syntax error names the line in the file": {
			name:    "in.json",
			content: "{\"apiVersion\": \"v1\", \"kind\": \"Service\"}\n{\n  \"apiVersion\": \"v1\",\n  \"kind\": \"Service\",\n}\n",
			want: []document{
				{index: 1, line: 1, objects: []string{"v1 Service"}},
				{index: 2, line: 5, err: "in.json:5: json: invalid character '}' looking for beginning of object key string (document 2)"},
			},
		},
		"a JSON file cut short": {
			name:    "in.json",
			content: "{\"apiVersion\": \"v1\",\n\"kind\": ",
			want:    []document{{index: 1, line: 2, err: "in.json:2: json: unexpected end of input (document 1)"}},
		},
		"a file named on its own is read whatever its name": {
			name:    "manifest.txt",
			content: service,
			want:    []document{{index: 1, line: 1, objects: []string{"v1 Service"}}},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			file := tc.name
			if file == "" {
				file = "in.yaml"
			}
			assertDocuments(t, read(t, file, tc.content), tc.want)
		})
	}
}

func assertDocuments(t *testing.T, got, want []document) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d documents, want %d:\n got %+v\nwant %+v", len(got), len(want), got, want)
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.index != w.index || g.line != w.line || !slices.Equal(g.objects, w.objects) || !slices.Equal(g.notes, w.notes) || g.err != w.err {
			t.Errorf("document %d:\n got %+v\nwant %+v", i+1, g, w)
		}
	}
}

func TestLongLines(t *testing.T) {
	long := strings.Repeat("x", 1<<20)
	docs := read(t, "in.yaml", "apiVersion: v1\nkind: Service\nmetadata:\n  annotations:\n    note: "+long+"\n---\n"+service)
	assertDocuments(t, docs, []document{
		{index: 1, line: 1, objects: []string{"v1 Service"}},
		{index: 2, line: 7, objects: []string{"v1 Service"}},
	})
}

func TestDocumentTooLarge(t *testing.T) {
	huge := "note: " + strings.Repeat("x", 1<<20) + "\n"
	tooLarge := func(line, index int) string {
		return fmt.Sprintf("in.yaml:%d: document %d is larger than 1 MiB; a Kubernetes object is at most 1.5 MiB", line, index)
	}
	tests := map[string]struct {
		content string
		want    []string
	}{
		"in the middle": {
			content: service + "---\n" + huge + "---\n" + service,
			want:    []string{"1@1", tooLarge(6, 2), "3@8"},
		},
		"first, on one line": {
			content: huge + "---\n" + service,
			want:    []string{tooLarge(1, 1), "2@3"},
		},
		"last, on one line without a newline": {
			content: service + "---\n" + strings.TrimSuffix(huge, "\n"),
			want:    []string{"1@1", tooLarge(6, 2)},
		},
		"alone": {
			content: huge,
			want:    []string{tooLarge(1, 1)},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var got []string
			err := splitYAML("in.yaml", strings.NewReader(tc.content), 1<<20, func(c Chunk) error {
				if c.Err != nil {
					got = append(got, c.Err.Error())
				} else {
					got = append(got, fmt.Sprintf("%d@%d", c.Index, c.Line))
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestALongLineIsReadInBoundedMemory(t *testing.T) {
	// 64 MiB on one line, streamed: only the limit is kept.
	line := io.MultiReader(io.LimitReader(repeatReader('x'), 64<<20), strings.NewReader("\n"))
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	var errs []string
	err := splitYAML("in.yaml", line, 1<<20, func(c Chunk) error {
		if c.Err != nil {
			errs = append(errs, c.Err.Error())
		}
		return nil
	})
	runtime.ReadMemStats(&after)
	if err != nil || len(errs) != 1 {
		t.Fatalf("error %v, document errors %q, want one document too large", err, errs)
	}
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 16<<20 {
		t.Errorf("reading a 64 MiB line allocated %d MiB, want at most 16", grew>>20)
	}
}

// repeatReader reads b forever.
type repeatReader byte

func (r repeatReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(r)
	}
	return len(p), nil
}

func TestOpenFolders(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"b.yaml", "a.yml", "c.json", "d.YAML", "notes.txt", "nested/deeper/e.yaml", "nested/f.yaml", ".git/g.yaml", "nested/.hidden/h.yaml", "README.md"} {
		writeFile(t, filepath.Join(dir, f), service)
	}
	single := filepath.Join(dir, "notes.txt")
	s, err := Open(t.Context(), []string{dir, single}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got := relativeSources(s, dir)
	want := []string{"a.yml", "b.yaml", "c.json", "d.YAML", "nested/deeper/e.yaml", "nested/f.yaml", "notes.txt"}
	if !slices.Equal(got, want) {
		t.Errorf("sources %q, want %q (recursive, sorted, *.yaml|*.yml|*.json only, hidden folders skipped, then the file named)", got, want)
	}
}

func TestOpenErrors(t *testing.T) {
	tests := map[string]struct {
		paths []string
		want  string
	}{
		"no paths":                   {nil, "no input: name files or folders, or - for standard input"},
		"a path that does not exist": {[]string{"/nonexistent/manifests"}, "reading /nonexistent/manifests: no such file or directory"},
		"standard input twice":       {[]string{"-", "-"}, "standard input (-) is named more than once"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := Open(t.Context(), tc.paths, strings.NewReader(service))
			if err == nil || err.Error() != tc.want {
				t.Errorf("Open(%q) error = %v, want %q", tc.paths, err, tc.want)
			}
		})
	}
}

func TestStdin(t *testing.T) {
	tests := map[string]struct {
		input string
		want  []document
	}{
		"YAML": {
			input: "# rendered\n" + service + "---\n" + service,
			want: []document{
				{index: 1, line: 1, objects: []string{"v1 Service"}},
				{index: 2, line: 7, objects: []string{"v1 Service"}},
			},
		},
		"JSON, recognised by its opening brace": {
			input: "\n  {\"apiVersion\": \"v1\", \"kind\": \"List\", \"items\": [{\"apiVersion\": \"v1\", \"kind\": \"Service\"}]}\n",
			want:  []document{{index: 1, line: 2, objects: []string{"v1 Service #1"}}},
		},
		"nothing": {input: ""},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			s, err := Open(t.Context(), []string{Stdin}, strings.NewReader(tc.input))
			if err != nil {
				t.Fatal(err)
			}
			if got := s.Sources(); !slices.Equal(got, []string{StdinName}) {
				t.Errorf("sources %q, want %q", got, StdinName)
			}
			// Read twice: standard input is spooled so passes can repeat.
			assertDocuments(t, readAll(t, s), tc.want)
			assertDocuments(t, readAll(t, s), tc.want)
			spool := s.spools[0]
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(spool); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("the spool %s is still there after Close: %v", spool, err)
			}
		})
	}
}

func TestWalkStopsAtTheCallbacksError(t *testing.T) {
	path := filepath.Join(t.TempDir(), "in.yaml")
	writeFile(t, path, service+"---\n"+service)
	s, err := Open(t.Context(), []string{path}, nil)
	if err != nil {
		t.Fatal(err)
	}
	stop := errors.New("stop")
	calls := 0
	err = s.Walk(func(Chunk) error { calls++; return stop })
	if !errors.Is(err, stop) || calls != 1 {
		t.Errorf("Walk returned %v after %d calls, want the callback's error after 1", err, calls)
	}
}

func TestOpenFollowsSymbolicLinks(t *testing.T) {
	tests := map[string]struct {
		layout  func(t *testing.T, dir string) string // returns the path to open
		want    []string                              // sources, relative to dir
		wantErr string
	}{
		"a folder named through a link is read": {
			layout: func(t *testing.T, dir string) string {
				writeFile(t, filepath.Join(dir, "real", "a.yaml"), service)
				symlink(t, "real", filepath.Join(dir, "linked"))
				return filepath.Join(dir, "linked")
			},
			want: []string{"linked/a.yaml"},
		},
		"links inside a folder, to files and folders, are read": {
			layout: func(t *testing.T, dir string) string {
				writeFile(t, filepath.Join(dir, "elsewhere", "b.yaml"), service)
				writeFile(t, filepath.Join(dir, "in", "a.yaml"), service)
				symlink(t, "../elsewhere/b.yaml", filepath.Join(dir, "in", "b.yaml"))
				symlink(t, "../elsewhere", filepath.Join(dir, "in", "sub"))
				return filepath.Join(dir, "in")
			},
			want: []string{"in/a.yaml", "in/b.yaml", "in/sub/b.yaml"},
		},
		"a link back to a folder it is in is an error, not an endless walk": {
			layout: func(t *testing.T, dir string) string {
				writeFile(t, filepath.Join(dir, "in", "a.yaml"), service)
				symlink(t, "..", filepath.Join(dir, "in", "up"))
				return filepath.Join(dir, "in")
			},
			wantErr: "a symbolic link loops back to a folder it is in",
		},
		"a folder without manifests has no sources (NothingRead says so)": {
			layout: func(t *testing.T, dir string) string {
				writeFile(t, filepath.Join(dir, "in", "README.md"), "")
				return filepath.Join(dir, "in")
			},
			want: nil,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			s, err := Open(t.Context(), []string{tc.layout(t, dir)}, nil)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one saying %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if got := relativeSources(s, dir); !slices.Equal(got, tc.want) {
				t.Errorf("sources %q, want %q", got, tc.want)
			}
		})
	}
}

func TestOpenRefusesAnUnreadableFile(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root reads any file")
	}
	path := filepath.Join(t.TempDir(), "secret.yaml")
	writeFile(t, path, service)
	if err := os.Chmod(path, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(t.Context(), []string{path}, nil); err == nil || !strings.Contains(err.Error(), "permission denied") {
		t.Errorf("error %v, want permission denied when opening", err)
	}
}

func symlink(t *testing.T, target, link string) {
	t.Helper()
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
}

func TestAJSONValueOverTheLimitIsRefusedInBoundedMemory(t *testing.T) {
	// One string value of 1 GiB, streamed: only about the limit is read,
	// and what is allocated (the decoder doubles its buffer) does not grow
	// with the input.
	in := io.MultiReader(strings.NewReader(`{"apiVersion":"v1","kind":"ConfigMap","data":{"x":"`),
		io.LimitReader(repeatReader('x'), 1<<30), strings.NewReader(`"}}`))
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	var got []string
	err := source{name: "big.json", json: true}.splitJSON(in, func(c Chunk) error {
		if c.Err != nil {
			got = append(got, c.Err.Error())
		}
		return nil
	})
	runtime.ReadMemStats(&after)
	if err != nil || len(got) != 1 || !strings.Contains(got[0], "document 1 is larger than 32 MiB") {
		t.Fatalf("error %v, document errors %q, want document 1 too large", err, got)
	}
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 10*MaxDocumentBytes {
		t.Errorf("reading it allocated %d MiB, want at most %d", grew>>20, 10*MaxDocumentBytes>>20)
	}
}

// relativeSources returns the Set's sources relative to dir, with slashes.
func relativeSources(s *Set, dir string) []string {
	var got []string
	for _, name := range s.Sources() {
		rel, _ := filepath.Rel(dir, name)
		got = append(got, filepath.ToSlash(rel))
	}
	return got
}

func TestOpenSpoolsANamedPipe(t *testing.T) {
	tests := map[string]struct {
		name     string
		input    string
		wantJSON bool
	}{
		"named *.yaml, read as YAML":                         {name: "in.yaml", input: service},
		"named *.json, read as JSON":                         {name: "in.json", input: "{}", wantJSON: true},
		"without an extension, read as JSON when it is JSON": {name: "63", input: " {\"kind\": \"List\"}", wantJSON: true},
		"without an extension, read as YAML otherwise":       {name: "63", input: service},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), tc.name)
			if err := syscall.Mkfifo(path, 0o600); err != nil {
				t.Fatal(err)
			}
			go func() {
				// Opening the writing end waits for Open to read.
				if f, err := os.OpenFile(path, os.O_WRONLY, 0); err == nil {
					_, _ = f.WriteString(tc.input)
					_ = f.Close()
				}
			}()
			s, err := Open(t.Context(), []string{path}, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if len(s.sources) != 1 || s.sources[0].name != path || s.sources[0].json != tc.wantJSON {
				t.Fatalf("sources %+v, want %s read as JSON: %v", s.sources, path, tc.wantJSON)
			}
			// Read twice: the spool, not the pipe, which has no writer left.
			for range 2 {
				if err := s.Walk(func(Chunk) error { return nil }); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}
