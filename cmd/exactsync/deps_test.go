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
