package sink

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"strings"
	"sync"
)

// process identifies a process among those that share the database, for an announced
// token refresh (see dest.PendingRefresh): the host name and pid, for people, and what lets a
// process of the same machine tell that it has ended.
type process struct {
	Host string `json:"host"`
	PID  int    `json:"pid"`
	// Machine is the running system: its boot id and pid namespace (Linux). Two processes
	// with the same Machine see the same pids. "" when unknown: then no process can tell
	// that this one has ended.
	Machine string `json:"machine,omitempty"`
	// Incarnation is random per process start: a later process that got the same pid
	// (a container's pid 1, started again) is not taken for this one.
	Incarnation string `json:"incarnation"`
}

// thisProcess is the identity of the running process.
var thisProcess = sync.OnceValue(func() process {
	host, _ := os.Hostname()
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return process{Host: host, PID: os.Getpid(), Machine: machineID(), Incarnation: hex.EncodeToString(b)}
})

// machineID is the boot id and the pid namespace of the running system, or "" when the
// system does not tell them.
func machineID() string {
	boot, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return ""
	}
	ns, err := os.Readlink("/proc/self/ns/pid")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(boot)) + "/" + ns
}

// String names the process for people: "host h pid 123".
func (p process) String() string {
	host := p.Host
	if host == "" {
		host = "an unknown host"
	}
	return fmt.Sprintf("host %s pid %d", host, p.PID)
}

// ended reports whether p is known to have ended: a process of this machine (same host
// name, boot and pid namespace) whose pid no longer runs, or whose pid is this process's
// own under another incarnation. A process of another machine, or of a machine that does
// not tell who it is, may still run.
func (p process) ended() bool {
	me := thisProcess()
	if p.Machine == "" || p.Machine != me.Machine || p.Host != me.Host || p.PID <= 0 {
		return false
	}
	if p.PID == me.PID {
		return p.Incarnation != me.Incarnation
	}
	return !processRuns(p.PID)
}
