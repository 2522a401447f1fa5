package helm

import (
	"fmt"

	"helm.sh/helm/v3/pkg/release"
	"helm.sh/helm/v3/pkg/storage/driver"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// This file names the Helm release types and statuses the rest of the operator works with, so that code
// outside this package never imports Helm itself and a Helm 4 port changes only these definitions.

// Release is one stored revision of a Helm release: its chart, values, manifest, status and labels.
type Release = release.Release

// Status is the Helm status of a release revision (deployed, failed, pending-upgrade, ...).
type Status = release.Status

// Revision statuses code outside this package compares against.
const (
	// StatusDeployed is the status of the revision currently applied.
	StatusDeployed = release.StatusDeployed
	// StatusSuperseded is the status of a revision that was deployed and then replaced by a newer one.
	StatusSuperseded = release.StatusSuperseded
	// StatusUninstalled is the status of a release uninstalled with its history kept.
	StatusUninstalled = release.StatusUninstalled
)

// IsDeployed reports whether rel is a revision whose Helm status is deployed (false for nil or no info).
func IsDeployed(rel *Release) bool {
	return rel != nil && rel.Info != nil && rel.Info.Status == StatusDeployed
}

// SaveRevision writes one revision record straight into Helm's Secret storage with cfg, replacing a record
// of the same revision (tests use it to fake an interrupted operation).
func SaveRevision(cfg *rest.Config, rel *Release) error {
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	d := driver.NewSecrets(cs.CoreV1().Secrets(rel.Namespace))
	key := fmt.Sprintf("sh.helm.release.v1.%s.v%d", rel.Name, rel.Version)
	if _, err := d.Get(key); err == nil {
		return d.Update(key, rel)
	}
	return d.Create(key, rel)
}
