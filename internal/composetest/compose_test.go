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

	"go.yaml.in/yaml/v3"
)

// root is the module root, where docker-compose.yml, the Dockerfile and README.md are.
var root = filepath.Join("..", "..")

// composeFile is what the tests read of docker-compose.yml.
type composeFile struct {
	Services map[string]*service `yaml:"services"`
	Volumes  map[string]any      `yaml:"volumes"`
}

// service is what the tests read of a service.
type service struct {
	Build       any               `yaml:"build"`
	Image       string            `yaml:"image"`
	Profiles    []string          `yaml:"profiles"`
	DependsOn   dependsOn         `yaml:"depends_on"`
	NetworkMode string            `yaml:"network_mode"`
	VolumesFrom []string          `yaml:"volumes_from"`
	Extends     *extends          `yaml:"extends"`
	Ports       []port            `yaml:"ports"`
	Volumes     []any             `yaml:"volumes"`
	Healthcheck *healthcheck      `yaml:"healthcheck"`
	Entrypoint  stringsOrString   `yaml:"entrypoint"`
	Command     stringsOrString   `yaml:"command"`
	Environment map[string]string `yaml:"environment"`
}

type extends struct {
	Service string `yaml:"service"`
	File    string `yaml:"file"`
}

type healthcheck struct {
	Test    stringsOrString `yaml:"test"`
	Disable bool            `yaml:"disable"`
}

// dependsOn is depends_on in its short form (a list of names) or long form (a map).
type dependsOn map[string]struct {
	Condition string `yaml:"condition"`
}

func (d *dependsOn) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.SequenceNode {
		var names []string
		if err := n.Decode(&names); err != nil {
			return err
		}
		*d = dependsOn{}
		for _, name := range names {
			(*d)[name] = struct {
				Condition string `yaml:"condition"`
			}{"service_started"}
		}
		return nil
	}
	var m map[string]struct {
		Condition string `yaml:"condition"`
	}
	if err := n.Decode(&m); err != nil {
		return err
	}
	*d = m
	return nil
}

// stringsOrString is a command, entrypoint or healthcheck test: a list, or a string that
// Compose hands to a shell (kept as one element).
type stringsOrString []string

func (s *stringsOrString) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		*s = []string{n.Value}
		return nil
	}
	var l []string
	if err := n.Decode(&l); err != nil {
		return err
	}
	*s = l
	return nil
}

// port is a published port: hostIP and hostPorts empty when Docker picks the host port.
type port struct {
	hostIP           string
	hostFrom, hostTo int // the host port range; 0 when Docker picks
	container        int // the first container port
}

func (p *port) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.MappingNode {
		var long struct {
			Target    int    `yaml:"target"`
			Published string `yaml:"published"`
			HostIP    string `yaml:"host_ip"`
		}
		if err := n.Decode(&long); err != nil {
			return err
		}
		p.container, p.hostIP = long.Target, long.HostIP
		var err error
		p.hostFrom, p.hostTo, err = portRange(long.Published)
		return err
	}
	var short string
	if err := n.Decode(&short); err != nil {
		return err
	}
	return p.parse(short)
}

// parse reads the short syntax [HOST_IP:][HOST_PORT[-END]:]CONTAINER_PORT[-END][/PROTOCOL].
func (p *port) parse(s string) error {
	spec, _, _ := strings.Cut(s, "/")
	if strings.HasPrefix(spec, "[") { // [::1]:8443:8443
		end := strings.Index(spec, "]")
		if end < 0 {
			return fmt.Errorf("port %q: unclosed [", s)
		}
		p.hostIP, spec = spec[1:end], strings.TrimPrefix(spec[end+1:], ":")
	}
	parts := strings.Split(spec, ":")
	var host string
	switch len(parts) {
	case 1:
	case 2:
		host = parts[0]
	case 3:
		if p.hostIP != "" {
			return fmt.Errorf("port %q: two host addresses", s)
		}
		p.hostIP, host = parts[0], parts[1]
	default:
		return fmt.Errorf("port %q: want [HOST_IP:][HOST_PORT:]CONTAINER_PORT", s)
	}
	var err error
	if p.hostFrom, p.hostTo, err = portRange(host); err != nil {
		return fmt.Errorf("port %q: %w", s, err)
	}
	if p.container, _, err = portRange(parts[len(parts)-1]); err != nil || p.container == 0 {
		return fmt.Errorf("port %q: no container port", s)
	}
	return nil
}

// portRange parses "", "8443" or "8000-8010".
func portRange(s string) (from, to int, err error) {
	if s == "" {
		return 0, 0, nil
	}
	a, b, isRange := strings.Cut(s, "-")
	if from, err = strconv.Atoi(a); err != nil {
		return 0, 0, fmt.Errorf("%q is not a port", s)
	}
	to = from
	if isRange {
		if to, err = strconv.Atoi(b); err != nil {
			return 0, 0, fmt.Errorf("%q is not a port range", s)
		}
	}
	return from, to, nil
}

// publishes reports whether p publishes host port n.
func (p port) publishes(n int) bool { return p.hostFrom <= n && n <= p.hostTo }

// interpolation is ${VAR}, ${VAR:-default}, ${VAR-default} or $VAR; $$ is a dollar.
var interpolation = regexp.MustCompile(`\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)`)

// interpolate resolves variables as Compose does in an environment where none is set.
func interpolate(t *testing.T, s string) string {
	return interpolation.ReplaceAllStringFunc(s, func(m string) string {
		if m == "$$" {
			return "$$" // Compose leaves "$" for the container; keep the escape visible
		}
		sub := interpolation.FindStringSubmatch(m)
		switch sub[2] {
		case ":-", "-":
			return sub[3]
		case ":?", "?":
			t.Errorf("docker-compose.yml requires %s (%s): every variable needs a default, so both ways start as documented", sub[1], m)
		}
		return ""
	})
}

// load reads docker-compose.yml.
func load(t *testing.T) *composeFile {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(root, "docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var f composeFile
	if err := yaml.Unmarshal([]byte(interpolate(t, string(raw))), &f); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	if len(f.Services) == 0 {
		t.Fatal("docker-compose.yml has no services")
	}
	return &f
}

// profiles are the profiles the file names, sorted.
func (f *composeFile) profiles() []string {
	var out []string
	for _, s := range f.Services {
		for _, p := range s.Profiles {
			if !slices.Contains(out, p) {
				out = append(out, p)
			}
		}
	}
	slices.Sort(out)
	return out
}

// active are the services Compose starts with the given profiles: those without a
// profile and those with one of them.
func (f *composeFile) active(profiles ...string) map[string]bool {
	out := map[string]bool{}
	for name, s := range f.Services {
		if len(s.Profiles) == 0 || slices.ContainsFunc(s.Profiles, func(p string) bool { return slices.Contains(profiles, p) }) {
			out[name] = true
		}
	}
	return out
}

// refs are the services s refers to, each with the key that names it.
func (s *service) refs() map[string]string {
	out := map[string]string{}
	for name := range s.DependsOn {
		out[name] = "depends_on"
	}
	if name, ok := strings.CutPrefix(s.NetworkMode, "service:"); ok {
		out[name] = "network_mode"
	}
	for _, v := range s.VolumesFrom {
		if strings.HasPrefix(v, "container:") {
			continue
		}
		name, _, _ := strings.Cut(strings.TrimPrefix(v, "service:"), ":")
		out[name] = "volumes_from"
	}
	if s.Extends != nil && s.Extends.File == "" {
		out[s.Extends.Service] = "extends"
	}
	return out
}

// closure is every service name reaches through refs, name included.
func (f *composeFile) closure(name string) []string {
	seen := []string{name}
	for i := 0; i < len(seen); i++ {
		s := f.Services[seen[i]]
		if s == nil {
			continue
		}
		for r := range s.refs() {
			if !slices.Contains(seen, r) {
				seen = append(seen, r)
			}
		}
	}
	return seen
}

// runs is the service's command line: entrypoint and command, as one string.
func (s *service) runs() string {
	return strings.Join(append(slices.Clone(s.Entrypoint), s.Command...), " ")
}

// TestComposeReferencesResolve: in the default profile and in each named one, every
// service a started service refers to is started too, and every named volume is
// declared. (`docker compose run` of a service also enables its own profiles.)
func TestComposeReferencesResolve(t *testing.T) {
	f := load(t)
	for _, profile := range append([]string{""}, f.profiles()...) {
		active := f.active(profile)
		for name := range active {
			for ref, key := range f.Services[name].refs() {
				if !active[ref] {
					t.Errorf("profile %q: service %s: %s names %s, which is not started with that profile", profile, name, key, ref)
				}
			}
		}
	}
	for name, s := range f.Services {
		for _, v := range s.Volumes {
			spec, ok := v.(string)
			if !ok {
				continue
			}
			source, _, bind := strings.Cut(spec, ":")
			if bind && !strings.ContainsAny(source, "/.~$") {
				if _, ok := f.Volumes[source]; !ok {
					t.Errorf("service %s mounts volume %s, which the file does not declare", name, source)
				}
			}
		}
	}
	if active := f.active(); !active["postgres"] || !active["exactsync"] || len(active) != 2 {
		t.Errorf("docker compose up starts %v, want postgres and exactsync", keys(active))
	}
}

// TestComposePorts: nothing is published on host port 5432, where a local PostgreSQL
// listens, and nothing is published beyond this machine's loopback.
func TestComposePorts(t *testing.T) {
	f := load(t)
	for name, s := range f.Services {
		for _, p := range s.Ports {
			if p.publishes(5432) {
				t.Errorf("service %s publishes host port 5432, which a local PostgreSQL would hold", name)
			}
			if ip := net.ParseIP(p.hostIP); ip == nil || !ip.IsLoopback() {
				t.Errorf("service %s publishes container port %d on %q; want 127.0.0.1 only", name, p.container, p.hostIP)
			}
		}
	}
	if pg := f.Services["postgres"]; pg == nil || len(pg.Ports) > 0 && pg.Ports[0].hostFrom != 0 {
		t.Errorf("postgres: want it published, if at all, on a host port Docker picks (127.0.0.1::5432)")
	}
}

// finalStage is the last stage of the Dockerfile: the image the services run.
func finalStage(t *testing.T) string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(root, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	stages := regexp.MustCompile(`(?m)^FROM `).Split(string(raw), -1)
	if len(stages) < 3 {
		t.Fatalf("Dockerfile has %d stages, want a build stage and a small final one", len(stages)-1)
	}
	return stages[len(stages)-1]
}

// TestComposeHealthchecks: PostgreSQL and the scheduler have healthchecks; the
// scheduler's asks /healthz on the address of its EXACTSYNC_LISTEN, and every
// healthcheck of a service built from the Dockerfile uses a tool the image installs.
func TestComposeHealthchecks(t *testing.T) {
	f := load(t)
	final := finalStage(t)
	for _, name := range []string{"postgres", "exactsync"} {
		s := f.Services[name]
		if s == nil || s.Healthcheck == nil || s.Healthcheck.Disable || len(s.Healthcheck.Test) == 0 || s.Healthcheck.Test[0] == "NONE" {
			t.Errorf("service %s has no healthcheck", name)
		}
	}
	if s := f.Services["postgres"]; s != nil && s.Healthcheck != nil && !strings.Contains(strings.Join(s.Healthcheck.Test, " "), "pg_isready") {
		t.Errorf("postgres's healthcheck %q does not ask pg_isready", s.Healthcheck.Test)
	}
	if s := f.Services["exactsync"]; s != nil && s.Healthcheck != nil {
		listen := s.Environment["EXACTSYNC_LISTEN"]
		_, p, err := net.SplitHostPort(listen)
		if err != nil {
			t.Errorf("exactsync: EXACTSYNC_LISTEN %q, want HOST:PORT for /healthz", listen)
		}
		if want := "http://127.0.0.1:" + p + "/healthz"; !slices.Contains(s.Healthcheck.Test, want) {
			t.Errorf("exactsync's healthcheck %q does not ask %s", s.Healthcheck.Test, want)
		}
	}
	for name, s := range f.Services {
		if s.Build == nil || s.Healthcheck == nil || len(s.Healthcheck.Test) < 2 {
			continue
		}
		tool := strings.Fields(s.Healthcheck.Test[1])[0]
		if s.Healthcheck.Test[0] == "CMD" && !regexp.MustCompile(`apt-get install[^\n]*\b`+regexp.QuoteMeta(tool)+`\b`).MatchString(final) {
			t.Errorf("service %s's healthcheck runs %s, which the Dockerfile's image does not install", name, tool)
		}
	}
}

// TestComposeSchedulerNeedsNoSimulator: the scheduler runs in every profile, so nothing
// it depends on may be of the demo, and it is not pointed at a simulator.
func TestComposeSchedulerNeedsNoSimulator(t *testing.T) {
	f := load(t)
	s := f.Services["exactsync"]
	if s == nil {
		t.Fatal("docker-compose.yml has no service exactsync")
	}
	if len(s.Profiles) > 0 {
		t.Errorf("exactsync has profiles %v; want none, so that plain docker compose up starts it", s.Profiles)
	}
	if !slices.Contains(s.Command, "run") {
		t.Errorf("exactsync runs %q, want exactsync run", s.runs())
	}
	for _, name := range f.closure("exactsync")[1:] {
		d := f.Services[name]
		switch {
		case d == nil:
			t.Errorf("exactsync depends on %s, which does not exist", name)
		case len(d.Profiles) > 0:
			t.Errorf("exactsync depends on %s, of profiles %v", name, d.Profiles)
		case strings.Contains(d.runs(), "exactsim"):
			t.Errorf("exactsync depends on %s, which runs the simulator", name)
		}
	}
	if u, err := url.Parse(s.Environment["EXACT_BASE_URL"]); err == nil && u.Scheme == "http" {
		t.Errorf("exactsync's EXACT_BASE_URL is %s; the real Exact Online is https", u)
	}
}

// TestComposeDemo: the demo's simulator listens on a loopback address shared with the
// scheduler (plain http is allowed only there), and its importer stores that address
// and keeps a connection that already has a token, so a second up changes nothing.
func TestComposeDemo(t *testing.T) {
	f := load(t)
	var sim, importer string
	for name, s := range f.Services {
		if !slices.Contains(s.Profiles, "demo") {
			continue
		}
		if strings.Contains(s.runs(), "exactsim") {
			sim = name
		}
		if strings.Contains(s.runs(), "auth import") {
			importer = name
		}
	}
	if sim == "" || importer == "" {
		t.Fatalf("profile demo: simulator %q, importer %q; want both", sim, importer)
	}
	var addr string
	for _, arg := range f.Services[sim].Command {
		if a, ok := strings.CutPrefix(arg, "--addr="); ok {
			addr = a
		}
	}
	host, p, err := net.SplitHostPort(addr)
	if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
		t.Errorf("%s listens on %q; want a loopback address (--addr=127.0.0.1:PORT)", sim, addr)
	}
	imp := f.Services[importer]
	if got, want := imp.Environment["EXACT_BASE_URL"], "http://"+net.JoinHostPort(host, p); got != want {
		t.Errorf("%s: EXACT_BASE_URL %q, want the simulator's %s", importer, got, want)
	}
	for _, name := range []string{sim, importer} {
		if got := f.Services[name].NetworkMode; got != "service:exactsync" {
			t.Errorf("%s: network_mode %q, want service:exactsync, so that the scheduler reaches the simulator on its loopback", name, got)
		}
	}
	if d, ok := imp.DependsOn[sim]; !ok || d.Condition != "service_healthy" {
		t.Errorf("%s does not wait for %s to be healthy", importer, sim)
	}
	for name, s := range f.Services {
		if strings.Contains(s.runs(), "auth import") && !strings.Contains(s.runs(), "auth import --skip-existing") {
			t.Errorf("%s runs %q; want auth import --skip-existing, which keeps a stored connection", name, s.runs())
		}
	}
}

// TestComposeDemoReader: the demo profile makes one example reader, with a password
// from standard input (never on a command line), once PostgreSQL is up, and says how to
// connect as it.
func TestComposeDemoReader(t *testing.T) {
	f := load(t)
	var readers []string
	for name, s := range f.Services {
		if strings.Contains(s.runs(), "readers add") {
			readers = append(readers, name)
		}
	}
	if len(readers) != 1 {
		t.Fatalf("services running exactsync readers add: %v; want one, of the demo profile", readers)
	}
	s := f.Services[readers[0]]
	if !slices.Contains(s.Profiles, "demo") || !f.active("demo")[readers[0]] || f.active()[readers[0]] {
		t.Errorf("%s has profiles %v; want it started by the demo profile only", readers[0], s.Profiles)
	}
	if d, ok := s.DependsOn["postgres"]; !ok || d.Condition != "service_healthy" {
		t.Errorf("%s does not wait for PostgreSQL to be healthy", readers[0])
	}
	runs := s.runs()
	if !strings.Contains(runs, "--password-stdin") || !strings.Contains(runs, "--divisions") || !strings.Contains(runs, "psql") {
		t.Errorf("%s runs %q; want readers add with --divisions and --password-stdin, and the way to connect with psql", readers[0], runs)
	}
}

// TestDockerfile: a build stage, then a final image that holds both commands and runs
// as a user other than root.
func TestDockerfile(t *testing.T) {
	final := finalStage(t)
	for _, want := range []string{"/out/exactsync", "/out/exactsim", "/usr/local/bin/"} {
		if !strings.Contains(final, want) {
			t.Errorf("the Dockerfile's final stage does not copy %s", want)
		}
	}
	user := regexp.MustCompile(`(?m)^USER\s+(\S+)`).FindStringSubmatch(final)
	if user == nil || user[1] == "root" || user[1] == "0" {
		t.Errorf("the Dockerfile's final stage runs as %v; want a user other than root", user)
	}
}

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
