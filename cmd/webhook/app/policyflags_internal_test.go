package app

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/failover-webhook/failover-webhook/pkg/report"
)

// TestColored: auto colours only a terminal, and never with NO_COLOR or
// TERM=dumb; always and never decide alone. In the YAML format the
// findings go to standard error, so that is the stream auto looks at.
func TestColored(t *testing.T) {
	devNull, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer devNull.Close()
	tty := openTerminal(t)
	buf := &bytes.Buffer{}
	tests := map[string]struct {
		color          string
		format         report.Format
		noColor, term  string
		stdout, stderr io.Writer
		want           bool
	}{
		"auto, a buffer":                   {color: colorAuto, stdout: buf, want: false},
		"auto, a file that is no terminal": {color: colorAuto, stdout: devNull, want: false},
		"auto, a terminal":                 {color: colorAuto, stdout: tty, want: true},
		"auto, a terminal, NO_COLOR":       {color: colorAuto, noColor: "1", stdout: tty, want: false},
		"auto, a terminal, TERM=dumb":      {color: colorAuto, term: "dumb", stdout: tty, want: false},
		"auto, yaml, stdout a terminal":    {color: colorAuto, format: report.YAML, stdout: tty, stderr: buf, want: false},
		"auto, yaml, stderr a terminal":    {color: colorAuto, format: report.YAML, stdout: buf, stderr: tty, want: true},
		"always, a buffer":                 {color: colorAlways, stdout: buf, want: true},
		"always, even with NO_COLOR":       {color: colorAlways, noColor: "1", stdout: buf, want: true},
		"never, a terminal":                {color: colorNever, stdout: tty, want: false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Setenv("NO_COLOR", tc.noColor)
			t.Setenv("TERM", tc.term)
			p := parsed{color: tc.color, format: tc.format}
			if p.format == "" {
				p.format = report.Text
			}
			if tc.stderr == nil {
				tc.stderr = buf
			}
			if got := p.colored(tc.stdout, tc.stderr); got != tc.want {
				t.Errorf("colored = %v, want %v", got, tc.want)
			}
		})
	}
}

// openTerminal opens the terminal end of a new pseudo-terminal.
func openTerminal(t *testing.T) *os.File {
	t.Helper()
	ptmx, err := os.OpenFile("/dev/ptmx", os.O_RDWR, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	t.Cleanup(func() { ptmx.Close() })
	if err := unix.IoctlSetPointerInt(int(ptmx.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatalf("unlocking the pseudo-terminal: %v", err)
	}
	n, err := unix.IoctlGetInt(int(ptmx.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatalf("numbering the pseudo-terminal: %v", err)
	}
	tty, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tty.Close() })
	return tty
}
