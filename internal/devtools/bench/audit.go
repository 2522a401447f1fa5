package bench

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// OperatorUser is the control-plane user the operator runs as; the audit log records only its requests.
const OperatorUser = "castware-operator"

// auditPolicy logs the operator user's requests and the workloads' status writes (by the control plane's
// controllers: when they became ready, for InstallBreakdown), metadata only, and nothing else.
const auditPolicy = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived", "ResponseStarted"]
rules:
  - level: Metadata
    users: ["` + OperatorUser + `"]
  - level: Metadata
    verbs: ["update", "patch"]
    resources:
      - group: apps
        resources: ["deployments/status", "daemonsets/status", "statefulsets/status"]
  - level: None
`

func writeAuditPolicy(dir string) (policy, log string, err error) {
	policy = filepath.Join(dir, "audit-policy.yaml")
	log = filepath.Join(dir, "audit.log")
	return policy, log, os.WriteFile(policy, []byte(auditPolicy), 0o644)
}

// auditEntry is the part of an audit event the bench reads.
type auditEntry struct {
	Verb      string    `json:"verb"`
	Stage     string    `json:"stage"`
	UserAgent string    `json:"userAgent"`
	Time      time.Time `json:"stageTimestamp"`
	User      struct {
		Username string `json:"username"`
	} `json:"user"`
	ObjectRef struct {
		Resource string `json:"resource"`
	} `json:"objectRef"`
}

// auditCounts counts the operator's completed requests in [from, to), by "verb resource".
func auditCounts(path string, from, to time.Time) (total int, by map[string]int, err error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, nil, err
	}
	defer f.Close()
	by = map[string]int{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		var e auditEntry
		if json.Unmarshal(sc.Bytes(), &e) != nil || e.User.Username != OperatorUser || e.Stage != "ResponseComplete" {
			continue
		}
		if e.Time.Before(from) || !e.Time.Before(to) {
			continue
		}
		total++
		by[strings.TrimSpace(e.Verb+" "+e.ObjectRef.Resource)]++
	}
	return total, by, sc.Err()
}
