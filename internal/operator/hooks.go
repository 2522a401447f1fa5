package operator

import (
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/castware-operator/castware-operator/controllers"
	"github.com/castware-operator/castware-operator/internal/console"
	"github.com/castware-operator/castware-operator/internal/dependents"
	"github.com/castware-operator/castware-operator/internal/permissions/access"
)

// clusterHooks returns the Cluster hooks in the order they run, the only place that order is set. A part
// that is disabled (nil on op) has no hook. A hook that makes the Cluster unavailable stops the chain, so
// what must happen whatever Cast AI answers runs before the hooks that talk to it. c and reader are the
// manager's cached client and the reader of whole Secrets; grantCommand is what the permission condition tells users.
func (op *Operator) clusterHooks(c client.Client, reader client.Reader, grantCommand string) []controllers.ClusterHook {
	var hooks []controllers.ClusterHook
	if op.SelfUpgrade != nil {
		// 1. Never fails: an operator upgrade is shown and resumed even when a later hook stops the chain.
		hooks = append(hooks, op.SelfUpgrade.Hook())
	}
	// 2. The dependents' Secret copies follow the key even while Cast AI is unreachable or rejects it.
	hooks = append(hooks, dependents.Hook{Client: c, Reader: reader})
	if op.Conns != nil {
		// 3. Hands the current key to the API client, so every hook after it talks to Cast AI with it.
		hooks = append(hooks, console.KeyHook{Conns: op.Conns})
	}
	if op.Migration != nil {
		// 4. Keeps an existing installation's cluster ID before registration could give the cluster a new one.
		hooks = append(hooks, op.Migration)
	}
	if op.Registrar != nil {
		// 5. Registers the cluster with Cast AI (with the ID migration kept); a rejected key stops the chain here.
		hooks = append(hooks, op.Registrar)
	}
	if op.PermissionDetector != nil {
		// 6. Last: it only mirrors the Phase 2 detection into status.extendedPermissions and its condition.
		hooks = append(hooks, access.ClusterHook{Detector: op.PermissionDetector, Command: grantCommand})
	}
	return hooks
}
