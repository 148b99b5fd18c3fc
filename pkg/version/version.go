// Package version reports what build of failover-webhook is running.
//
// `make build` stamps Version and Commit from `git describe` with -ldflags;
// a binary built otherwise (go install module@vX, go build in a checkout)
// falls back to what the Go toolchain recorded in the binary's build info,
// so a version is never blank without a reason.
package version

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// Set at build time: -X github.com/failover-webhook/failover-webhook/pkg/version.Version=...
var (
	Version = ""
	Commit  = ""
)

// istioAPIModule is the module whose DestinationRule types the rules decode;
// its version is the Istio API this build understands.
const istioAPIModule = "istio.io/api"

// Info is what `webhook version` prints.
type Info struct {
	Version  string `json:"version"`
	Commit   string `json:"commit"`
	Go       string `json:"go"`
	Platform string `json:"platform"`
	IstioAPI string `json:"istioAPI"`
}

// Get returns the stamped values, completed from the binary's build info.
func Get() Info {
	bi, _ := debug.ReadBuildInfo() // nil when the binary carries none
	return infoFrom(Version, Commit, bi)
}

func infoFrom(version, commit string, bi *debug.BuildInfo) Info {
	info := Info{
		Version:  version,
		Commit:   commit,
		Go:       runtime.Version(),
		Platform: runtime.GOOS + "/" + runtime.GOARCH,
		IstioAPI: "unknown",
	}
	if bi == nil {
		info.Version, info.Commit = orUnknown(info.Version), orUnknown(info.Commit)
		return info
	}
	if info.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		info.Version = bi.Main.Version // go install module@vX
	}
	var modified bool
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			if info.Commit == "" {
				info.Commit = s.Value
			}
		case "vcs.modified":
			modified = s.Value == "true"
		}
	}
	if info.Version == "" && info.Commit != "" {
		info.Version = "devel"
		if modified {
			info.Version += "-dirty"
		}
	}
	for _, dep := range bi.Deps {
		if dep.Path == istioAPIModule {
			info.IstioAPI = dep.Version
			if dep.Replace != nil {
				info.IstioAPI = dep.Replace.Version
			}
		}
	}
	info.Version, info.Commit = orUnknown(info.Version), orUnknown(info.Commit)
	return info
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

// String is the one-line form `webhook --version` prints.
func (i Info) String() string {
	return fmt.Sprintf("failover-webhook %s (commit %s, %s, %s, Istio API %s)", i.Version, i.Commit, i.Go, i.Platform, i.IstioAPI)
}
