//go:build failpoints

package exact

import (
	"os"
	"sync"
	"time"
)

// FailpointEnv names the failpoint at which a test build kills its own process. Only
// binaries built with -tags failpoints honour it; see failpoint for the points.
const FailpointEnv = "EXACTSYNC_FAILPOINT"

var failpointName = sync.OnceValue(func() string { return os.Getenv(FailpointEnv) })

// failpoint kills the process with SIGKILL (no deferred calls, no rollback sent, as in a
// power cut) when FailpointEnv names this point. The refresh path has three:
//
//	before-token-call   the row is locked, the token call not yet sent
//	after-token-answer  Exact answered with a new pair, which is not committed yet
//	after-token-commit  the new pair is committed, not yet used
func failpoint(name string) {
	if failpointName() != name {
		return
	}
	p, err := os.FindProcess(os.Getpid())
	if err == nil {
		err = p.Kill()
	}
	if err != nil {
		panic("failpoint " + name + ": cannot kill the process: " + err.Error())
	}
	for {
		time.Sleep(time.Hour) // SIGKILL is on its way
	}
}
