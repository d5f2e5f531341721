package main

import (
	"cmp"
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
)

// version is set at build time: go build -ldflags "-X main.version=v1.2.3" (the image's
// build argument VERSION). Without it the module version go install recorded is shown,
// with the commit of a build in a git checkout; a build with neither says so.
var version string

type versionCmd struct{}

func (versionCmd) Run(e *env) error {
	fmt.Fprintln(e.stdout, versionLine())
	return nil
}

// versionLine is "exactsync VERSION (commit REVISION[, modified], built TIME) GOVERSION OS/ARCH".
func versionLine() string {
	v, details := cmp.Or(version, "(devel)"), []string{}
	if bi, ok := debug.ReadBuildInfo(); ok {
		if version == "" && bi.Main.Version != "" {
			v = bi.Main.Version
		}
		settings := map[string]string{}
		for _, s := range bi.Settings {
			settings[s.Key] = s.Value
		}
		if rev := settings["vcs.revision"]; rev != "" {
			c := "commit " + rev[:min(len(rev), 12)]
			if settings["vcs.modified"] == "true" {
				c += ", modified"
			}
			details = append(details, c)
		}
		if t := settings["vcs.time"]; t != "" {
			details = append(details, "committed "+t)
		}
	}
	if v == "(devel)" && len(details) == 0 {
		// Neither -X main.version nor the VCS stamp of a build in a git checkout.
		v, details = "devel", []string{`built from source without version information: build with -ldflags "-X main.version=…", or inside a git checkout`}
	}
	out := "exactsync " + v
	if len(details) > 0 {
		out += " (" + strings.Join(details, ", ") + ")"
	}
	return out + " " + runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH
}

type helpCmd struct {
	Command []string `arg:"" optional:"" help:"The command, e.g. auth import."`
}

// Run is reached only through kong; exactsync help [command] is answered before parsing
// as exactsync [command] --help.
func (helpCmd) Run(e *env) error {
	return usageError{fmt.Errorf("run exactsync help [command]")}
}
