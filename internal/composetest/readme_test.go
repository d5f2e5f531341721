package composetest

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/exactsync/exactsync/internal/onboard"
)

// composeCommand is a `docker compose` (or `docker-compose`) command of the README.
type composeCommand struct {
	line     string
	profiles []string // --profile and COMPOSE_PROFILES
	sub      string   // up, run, …
	flags    []string // the subcommand's options, values included
	services []string // the services it names (--scale's too)
	args     []string // run and exec: the command run in the service
}

// valueOptions are the options that take a value, of Compose and of its subcommands.
var valueOptions = map[string][]string{
	"":     {"--profile", "-p", "--project-name", "-f", "--file", "--env-file", "--project-directory", "--ansi", "--progress", "--parallel"},
	"up":   {"--scale", "-t", "--timeout", "--exit-code-from", "--pull", "--wait-timeout", "--attach", "--no-attach"},
	"run":  {"-e", "--env", "--entrypoint", "-u", "--user", "-w", "--workdir", "-v", "--volume", "-l", "--label", "--name", "-p", "--publish"},
	"exec": {"-e", "--env", "-u", "--user", "-w", "--workdir", "--index"},
	"logs": {"-n", "--tail", "--since", "--until"},
	"down": {"-t", "--timeout", "--rmi"},
	"stop": {"-t", "--timeout"},
	"port": {"--index", "--protocol"},
}

// subcommands are the subcommands the test knows how to read.
var subcommands = []string{"up", "run", "exec", "logs", "down", "stop", "start", "restart", "ps", "pull", "build", "config", "port"}

// splitShell splits a command line as sh would, for the quoting the README uses; a word
// starting with # ends it.
func splitShell(line string) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord := false
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case c == ' ' || c == '\t':
			if inWord {
				words, inWord = append(words, cur.String()), false
				cur.Reset()
			}
		case c == '#' && !inWord:
			return words, nil
		case c == '\'' || c == '"':
			end := strings.IndexByte(line[i+1:], c)
			if end < 0 {
				return nil, fmt.Errorf("unclosed %c", c)
			}
			cur.WriteString(line[i+1 : i+1+end])
			i += end + 1
			inWord = true
		case c == '\\' && i+1 < len(line):
			i++
			cur.WriteByte(line[i])
			inWord = true
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}

// parseCommand reads one README line; ok is false when it is no compose command.
func parseCommand(line string) (cmd composeCommand, ok bool, err error) {
	words, err := splitShell(line)
	if err != nil {
		return cmd, false, err
	}
	cmd.line = line
	for len(words) > 0 && strings.Contains(words[0], "=") && !strings.HasPrefix(words[0], "-") {
		if v, ok := strings.CutPrefix(words[0], "COMPOSE_PROFILES="); ok {
			cmd.profiles = append(cmd.profiles, strings.Split(v, ",")...)
		}
		words = words[1:]
	}
	switch {
	case len(words) >= 2 && words[0] == "docker" && words[1] == "compose":
		words = words[2:]
	case len(words) >= 1 && words[0] == "docker-compose":
		words = words[1:]
	default:
		return cmd, false, nil
	}
	// option reads the option at words[0] and its value; it returns the words left.
	option := func(sub string, words []string) (name, value string, rest []string) {
		name, value, inline := strings.Cut(words[0], "=")
		if !inline && slices.Contains(valueOptions[sub], name) && len(words) > 1 {
			return name, words[1], words[2:]
		}
		return name, value, words[1:]
	}
	for len(words) > 0 && strings.HasPrefix(words[0], "-") {
		var name, value string
		name, value, words = option("", words)
		if name == "--profile" {
			cmd.profiles = append(cmd.profiles, value)
		}
	}
	if len(words) == 0 {
		return cmd, true, fmt.Errorf("no subcommand")
	}
	cmd.sub, words = words[0], words[1:]
	if !slices.Contains(subcommands, cmd.sub) {
		return cmd, true, fmt.Errorf("subcommand %q is not one the test reads; teach it", cmd.sub)
	}
	for len(words) > 0 {
		if strings.HasPrefix(words[0], "-") {
			var name, value string
			name, value, words = option(cmd.sub, words)
			cmd.flags = append(cmd.flags, name)
			if name == "--scale" {
				svc, _, _ := strings.Cut(value, "=")
				cmd.services = append(cmd.services, svc)
			}
			continue
		}
		switch cmd.sub {
		case "run", "exec":
			cmd.services, cmd.args = append(cmd.services, words[0]), words[1:]
			return cmd, true, nil
		case "port":
			cmd.services = append(cmd.services, words[0])
			return cmd, true, nil
		}
		cmd.services, words = append(cmd.services, words[0]), words[1:]
	}
	if (cmd.sub == "run" || cmd.sub == "exec" || cmd.sub == "port") && len(cmd.services) == 0 {
		return cmd, true, fmt.Errorf("%s names no service", cmd.sub)
	}
	return cmd, true, nil
}

// inlineCode is a code span of Markdown text.
var inlineCode = regexp.MustCompile("`([^`]+)`")

// readmeCommands are the compose commands of README.md: the lines of its code blocks,
// and the code spans of its text, which may wrap across lines.
func readmeCommands(t *testing.T) []composeCommand {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	var text strings.Builder
	inCode := false
	var pending string
	for _, line := range strings.Split(string(raw), "\n") {
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "```") {
			inCode, pending = !inCode, ""
			continue
		}
		if !inCode {
			text.WriteString(trimmed + " ")
			continue
		}
		if l, ok := strings.CutSuffix(trimmed, "\\"); ok {
			pending += l + " "
			continue
		}
		lines, pending = append(lines, pending+trimmed), ""
	}
	for _, m := range inlineCode.FindAllStringSubmatch(text.String(), -1) {
		lines = append(lines, m[1])
	}
	var out []composeCommand
	for _, line := range lines {
		if !strings.Contains(line, "docker compose") && !strings.Contains(line, "docker-compose") {
			continue
		}
		cmd, ok, err := parseCommand(line)
		if err != nil {
			t.Errorf("README.md: %q: %v", line, err)
		}
		if ok {
			out = append(out, cmd)
		}
	}
	return out
}

// TestREADMECompose: every compose command of the README names profiles and services
// of docker-compose.yml that Compose starts with it; the README shows both ways and
// the login; and the login's callback is reachable: the service it runs in publishes the
// callback port of the redirect URI on this machine, and the listener listens on it
// beyond the container's loopback.
func TestREADMECompose(t *testing.T) {
	f := load(t)
	cmds := readmeCommands(t)
	declared := f.profiles()
	var demo, real, login bool
	for _, c := range cmds {
		for _, p := range c.profiles {
			if !slices.Contains(declared, p) {
				t.Errorf("README.md: %q: profile %q is not in docker-compose.yml (it has %v)", c.line, p, declared)
			}
		}
		enabled := slices.Clone(c.profiles)
		for _, name := range c.services {
			if s := f.Services[name]; s != nil {
				enabled = append(enabled, s.Profiles...) // Compose enables a named service's profiles
			}
		}
		active := f.active(enabled...)
		for _, name := range c.services {
			if f.Services[name] == nil {
				t.Errorf("README.md: %q: no service %s in docker-compose.yml", c.line, name)
			} else if !active[name] {
				t.Errorf("README.md: %q: service %s is not started with profiles %v", c.line, name, c.profiles)
			}
		}
		if c.sub == "up" && len(c.services) == 0 || c.sub == "up" && slices.Contains(c.flags, "--scale") {
			switch {
			case slices.Equal(c.profiles, []string{"demo"}):
				demo = true
			case len(c.profiles) == 0:
				real = true
			}
		}
		if c.sub == "run" && len(c.args) >= 2 && c.args[0] == "auth" && c.args[1] == "login" {
			login = true
			checkLogin(t, f, c)
		}
	}
	if !demo || !real || !login {
		t.Errorf("README.md shows docker compose --profile demo up: %t, docker compose up: %t, "+
			"docker compose run --service-ports … auth login: %t; want all three", demo, real, login)
	}
}

// checkLogin checks a README command that runs auth login in a service.
func checkLogin(t *testing.T, f *composeFile, c composeCommand) {
	t.Helper()
	redirect, err := url.Parse(onboard.DefaultRedirectURL)
	if err != nil {
		t.Fatal(err)
	}
	callback, err := strconv.Atoi(redirect.Port())
	if err != nil {
		t.Fatalf("the default redirect URI %s names no port", onboard.DefaultRedirectURL)
	}
	if !slices.Contains(c.flags, "--service-ports") {
		t.Errorf("README.md: %q: without --service-ports, docker compose run publishes no port for the callback", c.line)
	}
	s := f.Services[c.services[0]]
	if s == nil {
		return
	}
	published := slices.ContainsFunc(s.Ports, func(p port) bool { return p.container == callback && p.publishes(callback) })
	if !published {
		t.Errorf("README.md: %q: service %s does not publish port %d of the redirect URI %s as %d",
			c.line, c.services[0], callback, onboard.DefaultRedirectURL, callback)
	}
	var listen string
	for i, a := range c.args {
		if a == "--listen" && i+1 < len(c.args) {
			listen = c.args[i+1]
		} else if v, ok := strings.CutPrefix(a, "--listen="); ok {
			listen = v
		}
	}
	host, p, err := net.SplitHostPort(listen)
	ip := net.ParseIP(host)
	if err != nil || p != strconv.Itoa(callback) || host != "" && (ip == nil || ip.IsLoopback()) {
		t.Errorf("README.md: %q: --listen %q; want 0.0.0.0:%d: a published port reaches the container's own address, not its loopback",
			c.line, listen, callback)
	}
}

// TestParseCommand pins the reading of compose command lines.
func TestParseCommand(t *testing.T) {
	tests := []struct {
		line string
		want composeCommand
	}{
		{"docker compose --profile demo up", composeCommand{profiles: []string{"demo"}, sub: "up"}},
		{"docker compose up -d --scale exactsync=3", composeCommand{sub: "up", flags: []string{"-d", "--scale"}, services: []string{"exactsync"}}},
		{"docker-compose --profile=demo config -q", composeCommand{profiles: []string{"demo"}, sub: "config", flags: []string{"-q"}}},
		{"COMPOSE_PROFILES=demo docker compose logs -f import  # follow", composeCommand{profiles: []string{"demo"}, sub: "logs", flags: []string{"-f"}, services: []string{"import"}}},
		{"docker compose run --rm --service-ports cli auth login --listen 0.0.0.0:8443",
			composeCommand{sub: "run", flags: []string{"--rm", "--service-ports"}, services: []string{"cli"}, args: []string{"auth", "login", "--listen", "0.0.0.0:8443"}}},
		{`docker compose exec -e A=1 postgres psql -U exactsync -c 'SELECT count(*) FROM exact.accounts'`,
			composeCommand{sub: "exec", flags: []string{"-e"}, services: []string{"postgres"}, args: []string{"psql", "-U", "exactsync", "-c", "SELECT count(*) FROM exact.accounts"}}},
		{"docker compose port postgres 5432", composeCommand{sub: "port", services: []string{"postgres"}}},
	}
	for _, tt := range tests {
		t.Run(tt.line, func(t *testing.T) {
			got, ok, err := parseCommand(tt.line)
			if err != nil || !ok {
				t.Fatalf("parseCommand: ok %t, %v", ok, err)
			}
			got.line = ""
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("parseCommand(%q) = %+v, want %+v", tt.line, got, tt.want)
			}
		})
	}
	for _, line := range []string{"go test ./...", "docker build -t exactsync ."} {
		if _, ok, err := parseCommand(line); ok || err != nil {
			t.Errorf("parseCommand(%q): ok %t, %v; want no compose command", line, ok, err)
		}
	}
	if _, _, err := parseCommand("docker compose frobnicate"); err == nil {
		t.Error("parseCommand of an unknown subcommand: no error")
	}
}
