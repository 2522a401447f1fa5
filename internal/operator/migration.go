package operator

import (
	"fmt"
	"time"

	"k8s.io/client-go/kubernetes"

	"github.com/castware-operator/castware-operator/internal/migration"
)

// MigrationOptions configure the adoption of components installed without the operator.
type MigrationOptions struct {
	// Disabled turns the scan for existing installations and the Terraform handover off.
	Disabled bool
	// Directory names components' releases and charts as Cast AI knows them (nil: the catalog's names).
	Directory migration.ComponentDirectory
	// Permissions says whether Phase 2 components may be adopted (nil: the labelled bindings, as the
	// documented operator detects them).
	Permissions migration.PermissionChecker
	// ScanInterval is how often Clusters are scanned again (default migration.DefaultScanInterval).
	ScanInterval time.Duration
}

// connectMigration builds the migration Cluster hook (its place among the hooks: clusterHooks).
func (op *Operator) connectMigration(opts Options) error {
	mgr := op.Manager
	cs, err := kubernetes.NewForConfig(mgr.GetConfig())
	if err != nil {
		return fmt.Errorf("migration: clientset: %w", err)
	}
	mo := opts.Migration
	op.Migration = &migration.Scanner{
		Client: mgr.GetClient(), Reader: mgr.GetAPIReader(), Catalog: opts.Catalog,
		Detector: migration.Detector{Reader: mgr.GetAPIReader(), Releases: migration.EngineReleases{Engine: op.Engine, Meta: mgr.GetCache()}, Directory: mo.Directory,
			OwnRelease: opts.ownRelease()},
		Permissions: mo.Permissions,
		ClusterIDs:  migration.ClusterIDFinder{Reader: mgr.GetAPIReader(), Logs: migration.PodLogs{Client: cs}},
		Charts:      op.Charts, Recorder: mgr.GetEventRecorder("castware-operator"),
		Interval: mo.ScanInterval,
	}
	return nil
}

// ownRelease is the operator's own Helm release, when it knows it (the chart sets HELM_RELEASE_NAME).
func (o Options) ownRelease() string {
	if o.SelfUpgrade != nil && o.SelfUpgrade.ReleaseName != "" {
		return o.SelfUpgrade.ReleaseName
	}
	if release, namespace := operatorRelease(o); namespace == o.Namespace {
		return release // without self-upgrade flags: the chart's HELM_RELEASE_NAME, else castware-operator
	}
	return ""
}
