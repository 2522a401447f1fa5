package console

import (
	"context"
	"encoding/json"
	"fmt"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	castwarev1 "github.com/castware-operator/castware-operator/api/v1alpha1"
	"github.com/castware-operator/castware-operator/internal/castai"
)

// install creates the Component an install action names; an existing one is an error unless the action
// upserts (then it is an upgrade).
func (p *Poller) install(ctx context.Context, cl *castwarev1.Cluster, a *castai.Action) error {
	in := a.Install
	existing := &castwarev1.Component{}
	err := p.Client.Get(ctx, types.NamespacedName{Namespace: cl.Namespace, Name: in.Component}, existing)
	if err == nil {
		if existing.Annotations[castwarev1.AnnotationActionID] == a.ID {
			return nil
		}
		if !in.Upsert {
			return fmt.Errorf("component %s already exists", in.Component)
		}
		return p.upgrade(ctx, cl, a, in)
	}
	if !apierrors.IsNotFound(err) {
		return err
	}
	comp, err := p.newComponent(ctx, cl, a)
	if err != nil {
		return err
	}
	if err := p.Client.Create(ctx, comp); err != nil {
		if apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("component %s already exists", in.Component)
		}
		return fmt.Errorf("create Component %s: %w", in.Component, err)
	}
	return nil
}

// newComponent is the Component an install action asks for.
func (p *Poller) newComponent(ctx context.Context, cl *castwarev1.Cluster, a *castai.Action) (*castwarev1.Component, error) {
	in := a.Install
	releaseName, chart, err := p.componentInfo(ctx, cl, in.Component)
	if err != nil {
		return nil, err
	}
	overrides, err := p.consoleOverrides(in.Component, in.ValuesOverrides)
	if err != nil {
		return nil, err
	}
	comp := &castwarev1.Component{
		ObjectMeta: metav1.ObjectMeta{Name: in.Component, Namespace: cl.Namespace, Annotations: actionAnnotations(nil, a)},
		Spec: castwarev1.ComponentSpec{Component: in.Component, Cluster: cl.Name, Enabled: true, Version: in.Version,
			ReleaseName: firstNonEmpty(in.ReleaseName, releaseName)},
	}
	if e, ok := p.Catalog.Lookup(in.Component, nil); chart != "" && (!ok || e.Chart != chart) {
		comp.Labels = map[string]string{castwarev1.LabelHelmChart: chart}
	}
	if len(overrides) > 0 {
		raw, err := json.Marshal(overrides)
		if err != nil {
			return nil, fmt.Errorf("encode valuesOverrides: %w", err)
		}
		comp.Spec.Values = &apiextensionsv1.JSON{Raw: raw}
	}
	return comp, nil
}

// componentInfo asks Cast AI for a component's release name and chart, falling back to the catalog.
func (p *Poller) componentInfo(ctx context.Context, cl *castwarev1.Cluster, name string) (release, chart string, err error) {
	api, err := p.Conns.For(cl)
	if err == nil {
		info, ierr := api.GetComponentByName(ctx, name)
		if ierr == nil {
			return info.ReleaseName, info.HelmChart, nil
		}
		if castai.IsNotFound(ierr) && !p.Catalog.Known(name) {
			return "", "", fmt.Errorf("component %q is not supported by Cast AI", name)
		}
	}
	if e, ok := p.Catalog.Lookup(name, nil); ok {
		return e.ReleaseName, e.Chart, nil
	}
	return "", "", fmt.Errorf("component %q is not in the operator's catalog (known: %v)", name, p.Catalog.Components())
}
