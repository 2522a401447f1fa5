package faults

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/castware-operator/castware-operator/internal/devtools/testharness"
)

// The suite's report: every passing case adds the fault it injected, what the operator did (from what the
// case observed) and how long the operator took to converge; writeReport renders docs/reliability.md.

// Categories of faults, in the order of the report (issue 9's list).
const (
	catKilled = iota + 1
	catControlPlane
	catLeader
	catCastAI
	catCharts
	catHostile
	catDrift
)

var categoryNames = map[int]string{
	catKilled:       "Operator killed (SIGKILL) in the middle of an operation",
	catControlPlane: "Control plane faults",
	catLeader:       "Two replicas: leader killed or frozen",
	catCastAI:       "Cast AI API faults",
	catCharts:       "Chart repository faults",
	catHostile:      "Hostile and malformed input",
	catDrift:        "Drift",
}

type outcome struct {
	category  int
	seq       int
	test      string
	fault     string
	behaviour string
	converge  time.Duration
}

var (
	outcomesMu sync.Mutex
	outcomes   []outcome
	seq        int
)

// record adds a case's outcome to the report when the case passes. converge is how long the operator took
// from the fault (or the end of the fault) to the converged state the case asserted; 0 means the fault never
// disturbed the converged state.
func record(t *testing.T, category int, fault, behaviour string, converge time.Duration) {
	t.Helper()
	outcomesMu.Lock()
	seq++
	o := outcome{category: category, seq: seq, test: t.Name(), fault: fault, behaviour: behaviour, converge: converge}
	outcomesMu.Unlock()
	t.Logf("converged in %s: %s", converge.Round(100*time.Millisecond), behaviour)
	t.Cleanup(func() {
		if t.Failed() {
			return
		}
		outcomesMu.Lock()
		defer outcomesMu.Unlock()
		outcomes = append(outcomes, o)
	})
}

// reportSemantics is what the operator promises about its reports to Cast AI (components:recordActionResult);
// the cases assert exactly this.
const reportSemantics = `## What a report to Cast AI promises

An OK report of a Helm revision (ENABLE/OK, UPDATE/OK, ROLLBACK/OK) is sent first and recorded after: once
Cast AI has answered, the revision is written to the Component's ` + "`status.lastReportedHelmRevision`" + `.

- **Without a crash: exactly once.** One worker sends the reports of a process in order. It remembers the
  revision it last sent OK for each Component, so a reconcile that read the status from before the record
  (a cache that lags, or a fresh read just before the write) cannot send it again; only a PROGRESSING or a
  DISABLE report (a new revision, possibly with a number used before) makes it forget. If recording the
  revision in status fails (every conflict retry lost), only the record is retried, with backoff: the
  report is marked sent and never goes out again, even after the ledger forgot the revision.
- **Across a crash: at least once, at most once more.** A process killed after Cast AI accepted a report
  but before its status write (one status patch) leaves the revision unrecorded; the next leader reports it
  again. The duplicate carries the same action, status, versions and revision. Sending after recording
  would instead lose the report for good.
- **A kill before the revision is healthy** (every SIGKILL case below: the release is ` + "`pending-*`" + ` when the
  process dies) never produces a duplicate: the dead process had nothing to report, so those cases assert
  exactly one report.
- **A request whose answer is lost** (timeout, connection reset after Cast AI processed it) is retried
  with backoff, so it may arrive twice; Cast AI treats a repeated result of the same revision as the same
  result.
- PROGRESSING and ERROR reports are sent once per transition the operator makes; they carry no revision.

` + "`make test-faults-stress`" + ` runs this suite with the operator, kube-apiserver and etcd pinned to one core beside
busy loops, and the operator talking to kube-apiserver through a proxy that delivers watch events 400 ms
late, holds writes 10-150 ms and answers to reads up to 250 ms, and refuses 30% of the castware status
writes that carry a resourceVersion with a conflict. The delayed reads reproduce the duplicate report
on demand: before the worker remembered what it sent, a reconcile read "not recorded yet", the reporter
recorded and forgot the revision while that answer was on its way, and the reconcile queued it again.
`

// fuzzTargets are the fuzz tests with a committed seed corpus, run for fuzzTime each by `make fuzz-short`.
var fuzzTargets = []struct{ pkg, name, what string }{
	{"internal/values", "FuzzMerge", "values merging (catalog defaults < Cluster values < spec.values < overrides)"},
	{"internal/values", "FuzzUnflatten", "dot-path valuesOverrides of console actions"},
	{"internal/castai", "FuzzDecodeActions", "lifecycle-action poll responses"},
	{"internal/castai", "FuzzDecodeAPIError", "API error bodies (never leaking the key)"},
	{"internal/charts", "FuzzSelectVersion", "chart version lists (pre-releases, malformed versions)"},
	{"internal/migration", "FuzzExtractWorkload", "workloads of YAML installs (never copying an API key)"},
	{"internal/charts", "FuzzParseIndex", "repository index.yaml (size cap, URL schemes, no password in errors)"},
	{"internal/charts", "FuzzParseArchive", "chart archives (no paths out of the root, no links, entry and size caps)"},
	{"internal/castai", "FuzzDecodeResponse", "Cast AI success answers (me, cluster, registration, component, validateUpgrade)"},
	{"internal/castai", "FuzzDecodeUpgradeVerdict", "validateUpgrade refusals sent with an error status"},
}

func writeReport(path string) error {
	outcomesMu.Lock()
	defer outcomesMu.Unlock()
	sort.Slice(outcomes, func(i, j int) bool {
		if outcomes[i].category != outcomes[j].category {
			return outcomes[i].category < outcomes[j].category
		}
		return outcomes[i].seq < outcomes[j].seq
	})
	var b strings.Builder
	b.WriteString("# Reliability: faults tried and what the operator did\n\n")
	b.WriteString("<!-- Generated by `make reliability-doc` (test/faults with CASTWARE_RELIABILITY_DOC set); do not edit. -->\n\n")
	b.WriteString("`make test-faults` runs the fault-injection suite in `test/faults`: the operator runs as its own process (the binary\n")
	b.WriteString("`make build` builds), against its own control plane (etcd, kube-apiserver, kube-controller-manager,\n")
	b.WriteString("kube-scheduler, kwok), a fake Cast AI API that records every call and a chart repository, and each case\n")
	b.WriteString("injects one fault. Every case asserts that the components keep running, that no Helm release is left\n")
	b.WriteString("broken (no `pending-*` revision, revisions sequential, one deployed revision), that no console action is\n")
	b.WriteString("lost or applied twice (the fake API's acknowledgements and recorded results, the release history and\n")
	b.WriteString("`Cluster.status.handledActions`), that the operator converges afterwards, and that no operator process\n")
	b.WriteString("exits by itself (restart count 0).\n\n")
	b.WriteString("Settings of the operator processes: `--ready-timeout=30s` (8 s where a revision must fail), default\n")
	b.WriteString("`--pending-timeout` (5 m), and a 15 s leader-election lease (renew deadline 10 s, retry 2 s) where a\n")
	b.WriteString("process is killed; the default lease (90 s / 60 s / 30 s) elsewhere. \"Converged in\" is measured from the\n")
	b.WriteString("fault (for a kill: from the SIGKILL, including the restart and the lease of the dead process) to the state\n")
	b.WriteString("the case asserts, on a 2-core machine.\n\n")
	b.WriteString(reportSemantics)
	cat := 0
	for _, o := range outcomes {
		if o.category != cat {
			cat = o.category
			fmt.Fprintf(&b, "\n## %d. %s\n\n", cat, categoryNames[cat])
			b.WriteString("| Fault | What the operator did | Converged in |\n|---|---|---|\n")
		}
		conv := "—"
		if o.converge > 0 {
			conv = fmt.Sprintf("%.1f s", o.converge.Seconds())
		}
		fmt.Fprintf(&b, "| %s | %s | %s |\n", cell(o.fault), cell(o.behaviour), conv)
	}
	b.WriteString("\n## Fuzzing\n\n")
	b.WriteString("The parsers that read hostile input have fuzz tests with a committed seed corpus (`testdata/fuzz/<target>`);\n")
	b.WriteString("`go test` runs every seed, and `make fuzz-short` (part of `make test-faults`) fuzzes each target for\n")
	b.WriteString("`FUZZTIME` (10 s by default).\n\n| Target | Input | Seeds committed |\n|---|---|---|\n")
	for _, ft := range fuzzTargets {
		fmt.Fprintf(&b, "| `%s` `%s` | %s | %d |\n", ft.pkg, ft.name, ft.what, seeds(ft.pkg, ft.name))
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

// seeds counts the committed corpus files of a fuzz target.
func seeds(pkg, name string) int {
	entries, err := os.ReadDir(filepath.Join(testharness.RepoRoot(), pkg, "testdata", "fuzz", name))
	if err != nil {
		return 0
	}
	return len(entries)
}

func cell(s string) string { return strings.ReplaceAll(strings.ReplaceAll(s, "|", "\\|"), "\n", " ") }
