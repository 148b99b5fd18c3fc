package version

import (
	"runtime/debug"
	"strings"
	"testing"
)

func TestInfoFrom(t *testing.T) {
	istio := &debug.Module{Path: "istio.io/api", Version: "v1.32.0"}
	tests := map[string]struct {
		version, commit string
		bi              *debug.BuildInfo
		want            Info
	}{
		"values stamped by make build win over build info": {
			version: "v0.3.0-4-gabc1234", commit: "abc1234",
			bi:   &debug.BuildInfo{Main: debug.Module{Version: "v0.2.0"}, Deps: []*debug.Module{istio}, Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "fff"}}},
			want: Info{Version: "v0.3.0-4-gabc1234", Commit: "abc1234", IstioAPI: "v1.32.0"},
		},
		"go install module@version gives the module version": {
			bi:   &debug.BuildInfo{Main: debug.Module{Version: "v0.2.0"}, Deps: []*debug.Module{istio}},
			want: Info{Version: "v0.2.0", Commit: "unknown", IstioAPI: "v1.32.0"},
		},
		"go build in a modified checkout says devel-dirty and the revision": {
			bi: &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Deps: []*debug.Module{istio},
				Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "0123abc"}, {Key: "vcs.modified", Value: "true"}}},
			want: Info{Version: "devel-dirty", Commit: "0123abc", IstioAPI: "v1.32.0"},
		},
		"a replaced istio.io/api reports the replacement's version": {
			bi:   &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Deps: []*debug.Module{{Path: "istio.io/api", Version: "v1.32.0", Replace: &debug.Module{Version: "v1.33.0-alpha"}}}},
			want: Info{Version: "unknown", Commit: "unknown", IstioAPI: "v1.33.0-alpha"},
		},
		"no build info at all says unknown, never blank": {
			want: Info{Version: "unknown", Commit: "unknown", IstioAPI: "unknown"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got := infoFrom(tc.version, tc.commit, tc.bi)
			if got.Version != tc.want.Version || got.Commit != tc.want.Commit || got.IstioAPI != tc.want.IstioAPI {
				t.Errorf("got version %q commit %q istio %q, want %q %q %q", got.Version, got.Commit, got.IstioAPI, tc.want.Version, tc.want.Commit, tc.want.IstioAPI)
			}
			if got.Go == "" || !strings.Contains(got.Platform, "/") {
				t.Errorf("Go %q and platform %q must be filled in", got.Go, got.Platform)
			}
		})
	}
}
