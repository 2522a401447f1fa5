package console

import (
	"sync"

	"k8s.io/apimachinery/pkg/types"

	"github.com/castware-operator/castware-operator/controllers"
)

// sentLedger remembers, per Component, the revision whose OK report this process last sent to Cast AI.
// status.lastReportedHelmRevision records the same fact for the next process, but a reconcile can read a
// status from before that write (a lagging cache, or a fresh read just before the reporter finished): the
// ledger, consulted by the single report worker in queue order, drops such a repeat.
type sentLedger struct {
	mu   sync.Mutex
	sent map[types.NamespacedName]int
}

// admit says whether the report of t for the Component key is to be sent. An OK report of the revision last
// sent OK is not. A PROGRESSING or DISABLE report starts a new revision (after an uninstall, possibly with
// a number used before), so it makes the ledger forget the Component's last revision.
func (l *sentLedger) admit(key types.NamespacedName, t controllers.Transition) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case t.Status == "OK" && t.Revision > 0:
		rev, ok := l.sent[key]
		return !ok || rev != t.Revision
	case t.Status == "PROGRESSING" || t.Action == "DISABLE":
		delete(l.sent, key)
	}
	return true
}

// sentOK records that Cast AI has the OK report of t for the Component key.
func (l *sentLedger) sentOK(key types.NamespacedName, t controllers.Transition) {
	if t.Status != "OK" || t.Revision <= 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.sent == nil {
		l.sent = map[types.NamespacedName]int{}
	}
	l.sent[key] = t.Revision
}
