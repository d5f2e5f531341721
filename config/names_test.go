package config

import (
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// unknownProblems loads a valid configuration within environ and returns its problems.
func unknownProblems(t testing.TB, environ []string, opts Options) []string {
	t.Helper()
	vars := map[string]string{EnvDatabaseURL: "postgres://u@db:5432/x"}
	opts.Environ = append([]string{"DATABASE_URL=postgres://u@db:5432/x", "PATH=/usr/bin"}, environ...)
	_, err := Load(env(vars), Needs{Database: true}, opts)
	if err == nil {
		return nil
	}
	var cerr *Error
	if !errors.As(err, &cerr) {
		t.Fatalf("Load: %v, want a *config.Error", err)
	}
	var out []string
	for _, p := range cerr.Problems {
		out = append(out, p.Error())
	}
	return out
}

func TestUnknownVariables(t *testing.T) {
	opts := testOpts
	opts.Entities = []string{"accounts", "suppliers"}
	opts.Unsupported = map[string]string{"quotations": "Exact marks it deprecated"}
	opts.Known = []string{"EXACTSYNC_KEEPALIVE"}
	tests := []struct {
		name    string
		environ []string
		want    []string
	}{
		{"known ones", []string{"EXACT_CLIENT_ID=x", "EXACTSYNC_SCHEDULE_ACCOUNTS=off", "EXACTSYNC_KEEPALIVE=24h", "EXACTSYNC_FUZZTIME=3s"}, nil},
		{"not ours", []string{"EXACTLY=1", "EXACTSIM_STATE=x", "HOME=/root", "LOG_LEVEL_X=1"}, nil},
		{"OpenTelemetry's", []string{"OTEL_EXPORTER_OTLP_ENDPOINT=http://c:4318", "OTEL_SERVICE_NAME=exactsync", "OTEL_TRACES_EXPORTER=otlp"}, nil},
		{"service links", []string{"EXACTSYNC_PORT=tcp://10.0.0.1:9464", "EXACTSYNC_SERVICE_HOST=10.0.0.1", "EXACTSYNC_SERVICE_PORT_METRICS=9464",
			"EXACTSYNC_PORT_9464_TCP_ADDR=10.0.0.1", "EXACT_PORT_80_TCP=tcp://10.0.0.2:80"}, nil},
		{"a schedule's typo", []string{"EXACTSYNC_SCHEDULE_ACCOUNT=*/5 * * * *"},
			[]string{"EXACTSYNC_SCHEDULE_ACCOUNT: not a variable exactsync reads; did you mean EXACTSYNC_SCHEDULE_ACCOUNTS? (unset it if it is not exactsync's)"}},
		{"a missing underscore", []string{"EXACT_CLIENTID=x", "EXACTSYNC_ENCRYPTION_KEYFILE=/k"}, []string{
			"EXACT_CLIENTID: not a variable exactsync reads; did you mean EXACT_CLIENT_ID? (unset it if it is not exactsync's)",
			"EXACTSYNC_ENCRYPTION_KEYFILE: not a variable exactsync reads; did you mean EXACTSYNC_ENCRYPTION_KEY_FILE? (unset it if it is not exactsync's)"}},
		{"nothing near", []string{"EXACT_ONLINE_API_TOKEN_FOR_REPORTS=s3cret-value"},
			[]string{"EXACT_ONLINE_API_TOKEN_FOR_REPORTS: not a variable exactsync reads (the README's Configuration lists them); unset it if it is not exactsync's"}},
		{"an entity that cannot be synced", []string{"EXACTSYNC_FULL_SCHEDULE_QUOTATIONS=off"},
			[]string{"EXACTSYNC_FULL_SCHEDULE_QUOTATIONS: quotations cannot be synced: Exact marks it deprecated; unset it"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := unknownProblems(t, tt.environ, opts)
			if !slices.Equal(got, tt.want) {
				t.Errorf("problems:\n got %q\nwant %q", got, tt.want)
			}
		})
	}
	// Without Environ nothing is checked.
	if _, err := Load(env(map[string]string{"EXACTSYNC_SCHEDULE_ACCOUNT": "x"}), Needs{}, opts); err != nil {
		t.Errorf("Load without Environ: %v", err)
	}
}

// TestEveryVariableIsKnown: each Env… constant of the package is a name knownNames holds,
// so that adding a variable without adding it there fails here rather than being
// reported as unknown to its users.
func TestEveryVariableIsKnown(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	known := knownNames(Options{})
	fset := token.NewFileSet()
	found := 0
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			vs, ok := n.(*ast.ValueSpec)
			if !ok {
				return true
			}
			for i, id := range vs.Names {
				if !strings.HasPrefix(id.Name, "Env") || i >= len(vs.Values) {
					continue
				}
				lit, ok := vs.Values[i].(*ast.BasicLit)
				if !ok || lit.Kind != token.STRING {
					continue
				}
				v, _ := strconv.Unquote(lit.Value)
				found++
				if !slices.Contains(known, v) {
					t.Errorf("%s (%s) is not among the known names of names.go", id.Name, v)
				}
			}
			return true
		})
	}
	if found < 15 {
		t.Errorf("found %d Env constants; the search is wrong", found)
	}
}

// FuzzUnknownVariables: any variable in the environment is either ignored or reported
// under its own name, and its value never changes what is said (it may be a secret).
func FuzzUnknownVariables(f *testing.F) {
	f.Add("EXACTSYNC_SCHEDULE_ACCOUNT", "*/5 * * * *")
	f.Add("EXACT_CLIENT_SECRETT", "a-secret-value-0123456789")
	f.Add("EXACTSYNC_PORT_9464_TCP", "tcp://10.0.0.1:9464")
	f.Add("EXACT_", "")
	f.Add("PATH", "/usr/bin")
	f.Fuzz(func(t *testing.T, name, value string) {
		if strings.ContainsAny(name, "=\x00") {
			return
		}
		opts := testOpts
		problems := unknownProblems(t, []string{name + "=" + value}, opts)
		for _, p := range problems {
			if !strings.HasPrefix(p, name+": ") {
				t.Fatalf("problem %q is not under the variable's name %q", p, name)
			}
			if !strings.HasPrefix(name, "EXACT_") && !strings.HasPrefix(name, "EXACTSYNC_") {
				t.Fatalf("variable %q without exactsync's prefix reported: %q", name, p)
			}
		}
		if other := unknownProblems(t, []string{name + "=x"}, opts); !slices.Equal(problems, other) {
			t.Fatalf("the problems depend on the value: %q, then %q", problems, other)
		}
	})
}
