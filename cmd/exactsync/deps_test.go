package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestProductCarriesNoTestMachinery checks that the exactsync command imports none of the
// project's test machinery: the simulator (exact/exacttest), the test databases
// (sink/sinktest) and the benchmark (internal/benchdb, cmd/exactsync-bench), nor any
// other package of the module named like them.
func TestProductCarriesNoTestMachinery(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	const module = "github.com/exactsync/exactsync"
	pkgs := strings.Fields(string(out))
	found := false
	for _, p := range pkgs {
		if p == module+"/sink" {
			found = true
		}
		if !strings.HasPrefix(p, module+"/") {
			continue
		}
		last := p[strings.LastIndex(p, "/")+1:]
		if strings.HasSuffix(last, "test") || strings.Contains(p, "bench") {
			t.Errorf("the exactsync command imports %s", p)
		}
	}
	if !found {
		t.Fatalf("go list -deps does not list %s/sink; the check is wrong:\n%s", module, out)
	}
}

// TestLibrariesTraceThroughTheAPIOnly checks that the packages that make spans (exact,
// sync, worker) import OpenTelemetry's API only: the SDK and the exporter are the
// command's, which wires them (tracing.go).
func TestLibrariesTraceThroughTheAPIOnly(t *testing.T) {
	const module = "github.com/exactsync/exactsync"
	out, err := exec.Command("go", "list", "-deps", module+"/exact", module+"/sync", module+"/worker").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	api := false
	for _, p := range strings.Fields(string(out)) {
		if p == "go.opentelemetry.io/otel/trace" {
			api = true
		}
		if strings.HasPrefix(p, "go.opentelemetry.io/otel/sdk") || strings.HasPrefix(p, "go.opentelemetry.io/otel/exporters") {
			t.Errorf("exact, sync or worker imports %s", p)
		}
	}
	if !api {
		t.Fatalf("go list -deps does not list go.opentelemetry.io/otel/trace; the check is wrong:\n%s", out)
	}
}
