package controllers

import (
	"context"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/castware-operator/castware-operator/internal/catalog"
	"github.com/castware-operator/castware-operator/internal/helm"
)

// Engine is what the Component controller asks of Helm; *helm.Engine implements it, and the step
// handlers' unit tests use a fake. Every read or write of a release goes through it.
type Engine interface {
	// Observe reads a release's history and its latest revision.
	Observe(ctx context.Context, owner client.Object, name string) (*helm.State, error)
	// Get returns the latest revision of a release, nil when there is none.
	Get(ctx context.Context, owner client.Object, name string) (*helm.Release, error)
	// Readiness reports whether the workloads a revision rendered are ready.
	Readiness(ctx context.Context, rel *helm.Release) (helm.Readiness, error)
	// InFlight reports whether this process is running a Helm action on the release.
	InFlight(owner client.Object, name string) bool
	// Session identifies this process in the revisions it marks pending.
	Session() string
	// PendingTimeout is how long another process's pending revision is waited for.
	PendingTimeout() time.Duration
	// ReadyTimeout is how long a revision's workloads are waited for.
	ReadyTimeout() time.Duration

	// Install installs a release (DryRun renders and validates only).
	Install(ctx context.Context, req helm.Request) (*helm.Release, error)
	// Reinstall replaces a release whose only revisions failed.
	Reinstall(ctx context.Context, req helm.Request) (*helm.Release, error)
	// Upgrade upgrades a release.
	Upgrade(ctx context.Context, req helm.Request) (*helm.Release, error)
	// Rollback rolls a release back to a revision.
	Rollback(ctx context.Context, owner client.Object, name string, toRevision int) (*helm.Release, error)
	// Uninstall uninstalls a release.
	Uninstall(ctx context.Context, owner client.Object, name string) error
	// UninstallSkippingHooks uninstalls a release without running its delete hooks.
	UninstallSkippingHooks(ctx context.Context, owner client.Object, name string) error
	// Unlock fails a revision left pending by a process that is gone.
	Unlock(ctx context.Context, owner client.Object, rel *helm.Release) error
	// MarkHealthy records that a revision's workloads became ready.
	MarkHealthy(ctx context.Context, owner client.Object, rel *helm.Release) error
	// RepairDrift puts back what was changed or deleted of a revision's objects.
	RepairDrift(ctx context.Context, owner client.Object, rel *helm.Release, ignore []catalog.DriftIgnore) ([]helm.Repair, error)
	// Forget deletes revision records, leaving their objects.
	Forget(ctx context.Context, owner client.Object, revisions []*helm.Release) error
}

var _ Engine = (*helm.Engine)(nil)
