package release

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
)

// Dockerfile is what the release compares with or builds from a Dockerfile: its stages.
type Dockerfile struct {
	// Stages are the FROM stages in order.
	Stages []Stage
}

// Stage is one FROM stage of a Dockerfile.
type Stage struct {
	// From is the base image (the FROM argument without "AS name").
	From string
	// Labels are the stage's LABEL key=value pairs (quotes removed).
	Labels map[string]string
	// Copies are the stage's COPY instructions.
	Copies []Copy
	// User is the last USER.
	User string
	// Entrypoint is the last ENTRYPOINT in exec form.
	Entrypoint []string
	// Args are the stage's ARG names with their defaults.
	Args map[string]string
}

// Copy is one COPY instruction.
type Copy struct {
	// From is the --from stage ("" for the build context).
	From string
	// Src is the source path (several space-separated) and Dst the destination.
	Src, Dst string
}

// ParseDockerfile reads the FROM, LABEL, COPY, USER, ENTRYPOINT and ARG instructions of a Dockerfile
// (comments dropped, continuation lines joined); the other instructions are skipped.
func ParseDockerfile(path string) (*Dockerfile, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read Dockerfile: %w", err)
	}
	df := &Dockerfile{}
	for _, line := range LogicalLines(string(data)) {
		cmd, args, _ := strings.Cut(line, " ")
		cmd, args = strings.ToUpper(cmd), strings.TrimSpace(args)
		if cmd == "FROM" {
			from, _, _ := strings.Cut(args, " ")
			df.Stages = append(df.Stages, Stage{From: from, Labels: map[string]string{}, Args: map[string]string{}})
			continue
		}
		if len(df.Stages) == 0 {
			continue
		}
		if err := df.Stages[len(df.Stages)-1].add(cmd, args); err != nil {
			return nil, fmt.Errorf("%s: %s: %w", path, line, err)
		}
	}
	return df, nil
}

// add applies one instruction to the stage.
func (s *Stage) add(cmd, args string) error {
	switch cmd {
	case "LABEL":
		for _, kv := range strings.Fields(args) {
			k, v, ok := strings.Cut(kv, "=")
			if !ok {
				return fmt.Errorf("LABEL %q is not key=value", kv)
			}
			s.Labels[k] = strings.Trim(v, `"`)
		}
	case "ARG":
		k, v, _ := strings.Cut(args, "=")
		s.Args[k] = v
	case "USER":
		s.User = args
	case "ENTRYPOINT":
		s.Entrypoint = nil
		if err := json.Unmarshal([]byte(args), &s.Entrypoint); err != nil {
			return fmt.Errorf("ENTRYPOINT not in exec form: %w", err)
		}
	case "COPY":
		var c Copy
		var paths []string
		for _, f := range strings.Fields(args) {
			if v, ok := strings.CutPrefix(f, "--from="); ok {
				c.From = v
			} else {
				paths = append(paths, f)
			}
		}
		if len(paths) < 2 {
			return fmt.Errorf("COPY with %d paths, want sources and a destination", len(paths))
		}
		c.Src, c.Dst = strings.Join(paths[:len(paths)-1], " "), paths[len(paths)-1]
		s.Copies = append(s.Copies, c)
	}
	return nil
}

// LogicalLines joins a Dockerfile's continuation lines and drops blank lines and comments.
func LogicalLines(data string) []string {
	var out []string
	var cur strings.Builder
	for _, line := range strings.Split(data, "\n") {
		t := strings.TrimSpace(line)
		if cur.Len() == 0 && (t == "" || strings.HasPrefix(t, "#")) {
			continue
		}
		if strings.HasSuffix(t, "\\") {
			cur.WriteString(strings.TrimSuffix(t, "\\") + " ")
			continue
		}
		cur.WriteString(t)
		out = append(out, strings.Join(strings.Fields(cur.String()), " "))
		cur.Reset()
	}
	return out
}
