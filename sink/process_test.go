package sink

import (
	"os"
	"os/exec"
	"testing"
)

func TestProcessEnded(t *testing.T) {
	me := thisProcess()
	if me.Machine == "" {
		t.Skip("this system does not tell its boot id and pid namespace")
	}
	// A pid that ran on this machine and has ended.
	c := exec.Command("true")
	if err := c.Run(); err != nil {
		t.Fatal(err)
	}
	dead := c.Process.Pid
	tests := []struct {
		name string
		p    process
		want bool
	}{
		{"this process", me, false},
		{"this pid, another incarnation", process{Host: me.Host, PID: me.PID, Machine: me.Machine, Incarnation: "earlier"}, true},
		{"a running process of this machine", process{Host: me.Host, PID: os.Getppid(), Machine: me.Machine, Incarnation: "x"}, false},
		{"an ended process of this machine", process{Host: me.Host, PID: dead, Machine: me.Machine, Incarnation: "x"}, true},
		{"an ended pid on another machine", process{Host: me.Host, PID: dead, Machine: "other-boot/pid:[1]", Incarnation: "x"}, false},
		{"an ended pid on another host", process{Host: me.Host + "-other", PID: dead, Machine: me.Machine, Incarnation: "x"}, false},
		{"a machine that does not tell", process{Host: me.Host, PID: dead, Incarnation: "x"}, false},
		{"no pid", process{Host: me.Host, Machine: me.Machine, Incarnation: "x"}, false},
	}
	for _, tt := range tests {
		if got := tt.p.ended(); got != tt.want {
			t.Errorf("%s: ended() = %t, want %t", tt.name, got, tt.want)
		}
	}
	if got, want := me.String(), "host "+me.Host+" pid "; len(got) <= len(want) || got[:len(want)] != want {
		t.Errorf("String() = %q, want it to start %q", got, want)
	}
}
