package controllers

import (
	"context"

	castwarev1 "github.com/castware-operator/castware-operator/api/v1alpha1"
	"github.com/castware-operator/castware-operator/internal/castai"
)

// Transition is a change of a Component's release worth reporting to Cast AI.
type Transition struct {
	// Action is ENABLE, UPDATE, DISABLE or ROLLBACK.
	Action castai.ActionType
	// Status is PROGRESSING, OK or ERROR.
	Status castai.ComponentStatus
	// FromVersion is the version before the change, ToVersion the version after (or attempted).
	FromVersion, ToVersion string
	// Release is the Helm release name.
	Release string
	// Revision is the Helm revision after the change (0 when unknown). An OK report with a revision is
	// recorded in status.lastReportedHelmRevision once Cast AI has it.
	Revision int
	// Message is a human explanation.
	Message string
}

// Reporter receives Component transitions (the Cast AI API reporter implements it).
type Reporter interface {
	// ComponentTransition is called once per transition; it must not block for long.
	ComponentTransition(ctx context.Context, c *castwarev1.Component, t Transition)
}
