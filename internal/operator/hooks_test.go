package operator

import (
	"fmt"
	"testing"

	"github.com/castware-operator/castware-operator/controllers"
	"github.com/castware-operator/castware-operator/internal/console"
	"github.com/castware-operator/castware-operator/internal/migration"
	"github.com/castware-operator/castware-operator/internal/permissions/access"
	"github.com/castware-operator/castware-operator/internal/selfupgrade"
)

// TestClusterHookOrder pins the order the Cluster hooks run in, by type, with every part enabled and with
// only what is always there.
func TestClusterHookOrder(t *testing.T) {
	typesOf := func(hooks []controllers.ClusterHook) []string {
		var out []string
		for _, h := range hooks {
			out = append(out, fmt.Sprintf("%T", h))
		}
		return out
	}
	all := &Operator{
		SelfUpgrade:        selfupgrade.New(nil, nil, nil, nil, nil, selfupgrade.Options{}),
		Conns:              console.NewConnections(),
		Migration:          &migration.Scanner{},
		Registrar:          &console.Registrar{},
		PermissionDetector: &access.Detector{},
	}
	tests := []struct {
		name string
		op   *Operator
		want []string
	}{
		{"every part enabled", all, []string{"*selfupgrade.Hook", "dependents.Hook", "console.KeyHook", "*migration.Scanner", "*console.Registrar", "access.ClusterHook"}},
		{"Cast AI, migration, permissions and self-upgrade disabled", &Operator{}, []string{"dependents.Hook"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := typesOf(tt.op.clusterHooks(nil, nil, "kubectl ..."))
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Fatalf("hooks = %v\nwant    %v", got, tt.want)
			}
		})
	}
	if h := all.clusterHooks(nil, nil, "grant")[5].(access.ClusterHook); h.Command != "grant" || h.Detector != all.PermissionDetector {
		t.Fatalf("permission hook = %+v", h)
	}
}
