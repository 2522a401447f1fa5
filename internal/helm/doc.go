// Package helm is the operator's Helm engine. It drives helm-operator-plugins' action clients
// (pkg/client) for install, upgrade, rollback and uninstall, keeps release Secrets and rendered objects
// free of owner references (components outlive their CRs and the operator), and adds what a long-running
// operator needs on top of plain Helm:
//
//   - a release state machine (Decide, a pure function) that picks one step per reconcile: install,
//     upgrade, roll back to the last good revision, unlock a release left pending by a crash, uninstall,
//     wait for readiness, or nothing;
//   - readiness of the rendered Deployments, DaemonSets, StatefulSets and Jobs, checked without blocking;
//   - health marks on release revisions, so "the last good revision" is known rather than guessed;
//   - drift repair from the stored manifest that leaves fields a component manages itself alone;
//   - a namespace guard: a namespace some release once rendered is never deleted by an upgrade or uninstall.
//
// Each action lives in its own file (install.go, upgrade.go, rollback.go, uninstall.go, unlock.go,
// drift.go, readiness.go) so a port to Helm 4 stays inside this package.
package helm
