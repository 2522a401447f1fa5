package packaging

import (
	"bytes"
	"context"
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/castware-operator/castware-operator/internal/devtools/release"
	"github.com/castware-operator/castware-operator/internal/lifecycle/subcmd"
)

// instruction is one Dockerfile instruction with its stage.
type instruction struct {
	stage int
	cmd   string
	args  string
}

// parseDockerfile splits a Dockerfile into instructions with their stages (release.LogicalLines joins
// continuations and drops comments, as `make image` reads it).
func parseDockerfile(data string) []instruction {
	var out []instruction
	stage := -1
	for _, line := range release.LogicalLines(data) {
		cmd, args, _ := strings.Cut(line, " ")
		cmd = strings.ToUpper(cmd)
		if cmd == "FROM" {
			stage++
		}
		out = append(out, instruction{stage: stage, cmd: cmd, args: args})
	}
	return out
}

// TestDockerfile parses the Dockerfile (multi-stage, static Go build, distroless nonroot runtime running
// the one binary) and builds the same target with `go build` the way its build stage does; the binary
// must be static and carry every subcommand the chart's hooks run.
func TestDockerfile(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(root, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	ins := parseDockerfile(string(data))
	var froms []instruction
	var buildCmd string
	env := map[string]string{}
	final := map[string]string{}
	for _, in := range ins {
		switch {
		case in.cmd == "FROM":
			froms = append(froms, in)
		case in.cmd == "ENV" && in.stage == 0:
			for _, kv := range strings.Fields(in.args) {
				k, v, _ := strings.Cut(kv, "=")
				env[k] = v
			}
		case in.cmd == "RUN" && strings.Contains(in.args, "go build"):
			buildCmd = in.args
		}
		if len(froms) > 0 && in.stage == len(froms)-1 {
			final[in.cmd] = in.args
		}
	}
	if len(froms) < 2 {
		t.Fatalf("want a multi-stage build, got %d stage(s)", len(froms))
	}
	if !strings.HasPrefix(froms[0].args, "golang:1.26") {
		t.Errorf("build stage %q: want golang:1.26 (the project's Go)", froms[0].args)
	}
	if !regexp.MustCompile(`^gcr\.io/distroless/static(-debian\d+)?:nonroot$`).MatchString(froms[len(froms)-1].args) {
		t.Errorf("runtime stage %q: want distroless static nonroot", froms[len(froms)-1].args)
	}
	if env["CGO_ENABLED"] != "0" || env["GOTOOLCHAIN"] != "local" {
		t.Errorf("build env %v: want CGO_ENABLED=0 (static) and GOTOOLCHAIN=local", env)
	}
	if !strings.Contains(buildCmd, "-trimpath") || !strings.Contains(buildCmd, "-o /out/castware-operator .") {
		t.Errorf("build command %q: want a -trimpath build of the module root", buildCmd)
	}
	if u := final["USER"]; u != "65532:65532" && u != "nonroot:nonroot" && u != "nonroot" {
		t.Errorf("runtime USER %q: want nonroot", u)
	}
	if !strings.Contains(final["COPY"], "--from=") || !strings.Contains(final["COPY"], "/castware-operator") {
		t.Errorf("runtime COPY %q: want the binary from the build stage", final["COPY"])
	}
	if final["ENTRYPOINT"] != `["/castware-operator"]` {
		t.Errorf("ENTRYPOINT %q: the chart's hook Jobs pass only arguments to /castware-operator", final["ENTRYPOINT"])
	}

	// go build of the same target, as the build stage runs it.
	bin := filepath.Join(t.TempDir(), "castware-operator")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	build := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags", "-s -w", "-o", bin, ".")
	build.Dir = root
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOTOOLCHAIN=local")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			t.Errorf("the binary is dynamically linked (%v): distroless static has no libc", p.Type)
		}
	}
	for _, name := range subcmd.Names() {
		cmd := exec.CommandContext(ctx, bin, name, "--help")
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil || !strings.Contains(out.String(), "usage: castware-operator "+name) {
			t.Errorf("%s --help: %v\n%s", name, err, out.String())
		}
	}
	for _, name := range []string{"crd-apply", "cleanup", "preflight", "upgrade"} {
		if !subcmd.Is(name) {
			t.Errorf("the binary lacks the %s subcommand", name)
		}
	}
	out, err := exec.CommandContext(ctx, bin, "--version").CombinedOutput()
	if err != nil {
		t.Errorf("--version: %v\n%s", err, out)
	}
}

// TestDockerfileDescribesReleaseImage: the Dockerfile (for users with Docker) and `make image`
// (internal/release, no Docker) describe the same image: binary path, user, entrypoint and labels, the
// build stage's linker flags are the release's.
func TestDockerfileDescribesReleaseImage(t *testing.T) {
	df, err := release.ParseDockerfile(filepath.Join(root, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	if len(df.Stages) < 2 {
		t.Fatalf("stages %+v", df.Stages)
	}
	final := df.Stages[len(df.Stages)-1]
	want := release.OperatorConfig(release.Labels("${VERSION}", "${REVISION}"))
	if final.User != want.User {
		t.Errorf("Dockerfile USER %q, make image %q", final.User, want.User)
	}
	if !reflect.DeepEqual(final.Entrypoint, want.Entrypoint) {
		t.Errorf("Dockerfile ENTRYPOINT %v, make image %v", final.Entrypoint, want.Entrypoint)
	}
	if len(final.Copies) != 1 || final.Copies[0].Dst != release.BinaryPath || final.Copies[0].From == "" {
		t.Errorf("Dockerfile COPY %+v: want the build stage's binary at %s", final.Copies, release.BinaryPath)
	}
	if !reflect.DeepEqual(final.Labels, want.Labels) {
		t.Errorf("Dockerfile LABELs %v, make image %v", final.Labels, want.Labels)
	}
	if _, ok := final.Args["VERSION"]; !ok {
		t.Errorf("the runtime stage declares no VERSION ARG for its label")
	}
	if _, ok := final.Args["REVISION"]; !ok {
		t.Errorf("the runtime stage declares no REVISION ARG for its label")
	}
	data, err := os.ReadFile(filepath.Join(root, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	ldflags := release.LDFlags("${VERSION}", "${COMMIT}")
	if !strings.Contains(string(data), `-ldflags "`+ldflags+`"`) {
		t.Errorf("the Dockerfile's go build does not use the release's linker flags %q", ldflags)
	}
	mk, err := os.ReadFile(filepath.Join(root, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.Join(strings.Fields(strings.ReplaceAll(string(mk), "\\\n", " ")), " "), "LDFLAGS := "+release.LDFlags("$(VERSION)", "$(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)")) {
		t.Errorf("the Makefile's LDFLAGS (make build) differ from the release's %q", release.LDFlags("$(VERSION)", "…"))
	}
}
