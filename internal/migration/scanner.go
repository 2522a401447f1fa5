package migration

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	castwarev1 "github.com/castware-operator/castware-operator/api/v1alpha1"
	"github.com/castware-operator/castware-operator/internal/catalog"
	"github.com/castware-operator/castware-operator/internal/charts"
	"github.com/castware-operator/castware-operator/internal/redact"
)

// AnnotationAdoptedFrom on a Component created by migration says, for humans, what it adopted.
const AnnotationAdoptedFrom = "castware.cast.ai/adopted-from"

// AnnotationVersionUnknown on a Component adopted readonly says why: the chart version the YAML install was
// rendered from could not be found, and what was looked for.
const AnnotationVersionUnknown = "castware.cast.ai/version-unknown"

// DefaultScanInterval is how often a Cluster is scanned again for components installed without the operator.
const DefaultScanInterval = 5 * time.Minute

// retryAfter is how soon a scan that hit a transient error is retried.
const retryAfter = 30 * time.Second

// Scanner is the Cluster hook that adopts what runs already. When Cluster.spec.terraform is false it
// creates a Component for every catalog component found installed without one (Phase 2 components only
// with Phase 2 permissions), as spec.migrationMode says; when it is true it hands Components created by
// Terraform with spec.migration "terraform" over once their installation is known. Before either, it keeps
// the cluster's existing Cast AI identity: an empty spec.cluster.clusterID is filled from what the
// installed agent registered. A scan that fails never makes the Cluster unavailable: it is logged,
// reported as an Event and retried.
type Scanner struct {
	// Client is the manager's client (Components are read from its cache; writes go to the API server).
	Client client.Client
	// Reader reads workloads, Secrets, ConfigMaps and Pods uncached.
	Reader client.Reader
	// Catalog lists the components.
	Catalog *catalog.Catalog
	// Detector finds installations.
	Detector Detector
	// Permissions says whether Phase 2 components may be adopted (nil: LabelledBindings over Reader).
	Permissions PermissionChecker
	// ClusterIDs recovers an existing cluster ID.
	ClusterIDs ClusterIDFinder
	// Charts, when set, is used to leave out image settings that repeat the chart's defaults.
	Charts charts.Source
	// Recorder emits Events on the Cluster (optional).
	Recorder recorder.EventRecorder
	// Interval is how often a Cluster is scanned again (default DefaultScanInterval).
	Interval time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time

	mu   sync.Mutex
	last map[types.UID]scanMark
}

type scanMark struct {
	generation int64
	at         time.Time
}

// Name implements the Cluster hook interface.
func (s *Scanner) Name() string { return "migration" }

func (s *Scanner) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Scanner) interval() time.Duration {
	if s.Interval > 0 {
		return s.Interval
	}
	return DefaultScanInterval
}

// Reconcile implements the Cluster hook interface. The API key is only used to keep it out of the values of
// the Components the scan creates.
func (s *Scanner) Reconcile(ctx context.Context, cl *castwarev1.Cluster, apiKey string) (ctrl.Result, error) {
	logger := log.FromContext(ctx).WithValues("hook", s.Name())
	ctx = log.IntoContext(ctx, logger)
	if cl.ClusterID() == "" {
		if res, err := s.recoverClusterID(ctx, cl); err != nil || !res.IsZero() {
			return res, err
		}
	}
	var err error
	switch {
	case cl.Spec.Terraform:
		// Cheap (cached Components only, detection only for the pending ones): every reconcile.
		err = s.handOverTerraform(ctx, cl, apiKey)
	case s.due(cl):
		err = s.scan(ctx, cl, apiKey)
	}
	if apierrors.IsConflict(err) {
		// A Component changed under us (its controller writes it too): look again at once.
		s.forget(cl)
		return ctrl.Result{RequeueAfter: time.Second}, nil
	}
	if err != nil {
		logger.Error(err, "migration scan failed; retrying")
		s.event(cl, corev1.EventTypeWarning, "MigrationScanFailed", "Scan", err.Error())
		s.forget(cl)
		return ctrl.Result{RequeueAfter: retryAfter}, nil
	}
	return ctrl.Result{RequeueAfter: s.interval()}, nil
}

// due reports whether the Cluster should be scanned now, and records the scan.
func (s *Scanner) due(cl *castwarev1.Cluster) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.last == nil {
		s.last = map[types.UID]scanMark{}
	}
	m, ok := s.last[cl.UID]
	if ok && m.generation == cl.Generation && s.now().Sub(m.at) < s.interval() {
		return false
	}
	s.last[cl.UID] = scanMark{generation: cl.Generation, at: s.now()}
	return true
}

func (s *Scanner) forget(cl *castwarev1.Cluster) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.last, cl.UID)
}

// recoverClusterID fills an empty spec.cluster.clusterID from the installed agent.
func (s *Scanner) recoverClusterID(ctx context.Context, cl *castwarev1.Cluster) (ctrl.Result, error) {
	var keySecrets []string
	var podLabels map[string]string
	container := "agent"
	if entry, ok := s.Catalog.Lookup("castai-agent", nil); ok {
		if w, spec, err := s.Detector.FindWorkload(ctx, cl.Namespace, entry, ""); err == nil && w != nil {
			podLabels, container = w.Selector, spec.Container
			keySecrets = Extract(w, spec).KeySecretCandidates
		}
	}
	id, source, err := s.ClusterIDs.Find(ctx, cl.Namespace, keySecrets, podLabels, container)
	if err != nil {
		log.FromContext(ctx).Error(err, "looking for an existing cluster ID failed")
		return ctrl.Result{}, nil
	}
	if id == "" {
		return ctrl.Result{}, nil
	}
	obj := cl.DeepCopy()
	patch := client.MergeFromWithOptions(obj.DeepCopy(), client.MergeFromWithOptimisticLock{})
	if obj.Spec.Cluster == nil {
		obj.Spec.Cluster = &castwarev1.ClusterMetadataSpec{}
	}
	obj.Spec.Cluster.ClusterID = id
	if err := s.Client.Patch(ctx, obj, patch); err != nil {
		if apierrors.IsConflict(err) {
			return ctrl.Result{RequeueAfter: time.Second}, nil
		}
		return ctrl.Result{}, fmt.Errorf("keep the existing cluster ID: %w", err)
	}
	cl.Spec.Cluster = obj.Spec.Cluster
	msg := fmt.Sprintf("kept the cluster's existing Cast AI identity %s, found in %s", id, source)
	log.FromContext(ctx).Info(msg)
	s.event(cl, corev1.EventTypeNormal, "ClusterIDRecovered", "RecoverClusterID", msg)
	return ctrl.Result{}, nil
}

// removalInProgress reports whether the operator's own removal is under way in the namespace (Components
// marked delete-candidate or being deleted): nothing is adopted then.
func removalInProgress(list *castwarev1.ComponentList) bool {
	for _, c := range list.Items {
		if c.Labels[castwarev1.LabelDeleteCandidate] == "true" || !c.DeletionTimestamp.IsZero() {
			return true
		}
	}
	return false
}

// scan creates Components for what runs without one.
func (s *Scanner) scan(ctx context.Context, cl *castwarev1.Cluster, apiKey string) error {
	list := &castwarev1.ComponentList{}
	if err := s.Client.List(ctx, list, client.InNamespace(cl.Namespace)); err != nil {
		return fmt.Errorf("list Components: %w", err)
	}
	if removalInProgress(list) {
		return nil
	}
	taken := map[string]bool{}
	for _, c := range list.Items {
		taken[c.Spec.Component], taken[c.Name] = true, true
	}
	var phase2 *bool
	for _, entry := range s.entries() {
		if taken[entry.Component] {
			continue
		}
		if entry.Phase == 2 {
			if phase2 == nil {
				ok, err := s.extendedPermissions(ctx, cl)
				if err != nil {
					return err
				}
				phase2 = &ok
			}
			if !*phase2 {
				continue
			}
		}
		f, err := s.detect(ctx, cl, entry, apiKey)
		if err != nil {
			return fmt.Errorf("%s: %w", entry.Component, err)
		}
		if f == nil {
			continue
		}
		comp, err := NewComponent(cl, f, cl.Spec.MigrationMode)
		if err != nil {
			return fmt.Errorf("%s: %w", entry.Component, err)
		}
		if err := s.Client.Create(ctx, comp); err != nil {
			if apierrors.IsAlreadyExists(err) {
				continue
			}
			return fmt.Errorf("create Component %s: %w", comp.Name, err)
		}
		msg := fmt.Sprintf("found %s %s; created Component %s (migrationMode %s: %s)", entry.Component, f.Describe(), comp.Name, mode(cl), modeEffect(cl, f))
		if len(f.Notes) > 0 {
			msg += "; " + strings.Join(f.Notes, "; ")
		}
		log.FromContext(ctx).Info("adopting an existing installation", "component", entry.Component, "source", f.Source, "version", f.Version, "release", f.ReleaseName)
		s.event(cl, corev1.EventTypeNormal, "ComponentDetected", "Adopt", msg)
	}
	return nil
}

// entries returns the entries serving unlabelled Components, Phase 1 first, one per component.
func (s *Scanner) entries() []*catalog.Entry {
	var out []*catalog.Entry
	for _, name := range s.Catalog.Components() {
		if e, ok := s.Catalog.Lookup(name, nil); ok {
			out = append(out, e)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Phase < out[j].Phase })
	return out
}

func (s *Scanner) extendedPermissions(ctx context.Context, cl *castwarev1.Cluster) (bool, error) {
	if cl.Status.ExtendedPermissions {
		return true, nil
	}
	pc := s.Permissions
	if pc == nil {
		pc = LabelledBindings{Reader: s.Reader}
	}
	return pc.ExtendedPermissions(ctx, cl.Namespace)
}

// detect finds an entry's installation and tidies its values for the Cluster: image settings that repeat the
// chart's defaults are left out, and so is any value holding an API key (the Cluster's or the installation's).
func (s *Scanner) detect(ctx context.Context, cl *castwarev1.Cluster, entry *catalog.Entry, apiKey string) (*Found, error) {
	f, err := s.Detector.Detect(ctx, cl.Namespace, entry)
	if err != nil || f == nil {
		return f, err
	}
	if f.Source == castwarev1.MigrationYAML && f.Workload != nil {
		repo := repoOf(cl, entry)
		if err := s.resolveVersion(ctx, repo, f); err != nil {
			return nil, err
		}
		var defaults map[string]any
		var appVersion string
		if s.Charts != nil && f.Version != "" {
			if loaded, err := s.Charts.Load(ctx, charts.Ref{Repo: repo, Name: f.Chart, Version: f.Version}); err == nil && loaded.Chart.Metadata != nil {
				defaults, appVersion = loaded.Chart.Values, loaded.Chart.Metadata.AppVersion
			}
		}
		PruneImage(f.Values, f.WorkloadSpec, defaults, f.Version, appVersion)
	}
	keys, err := s.Detector.KeyMaterial(ctx, cl.Namespace, f)
	if err != nil {
		return nil, err
	}
	if strings.TrimSpace(apiKey) != "" {
		keys = append(keys, strings.TrimSpace(apiKey))
	}
	if removed := RemoveKeyMaterial(f.Values, keys...); len(removed) > 0 {
		f.Notes = append(f.Notes, "left out values holding an API key: "+strings.Join(removed, ", "))
	}
	return f, nil
}

// repoOf returns the chart repository of an entry for a Cluster.
func repoOf(cl *castwarev1.Cluster, entry *catalog.Entry) string {
	switch {
	case entry.Repository != "":
		return entry.Repository
	case cl.Spec.HelmRepoURL != "":
		return cl.Spec.HelmRepoURL
	}
	return castwarev1.DefaultHelmRepoURL
}

// resolveVersion fills the chart version of a YAML install without a helm.sh/chart label from the repository
// index (the chart whose appVersion is the image tag), or says in f.VersionNote what was looked for.
func (s *Scanner) resolveVersion(ctx context.Context, repo string, f *Found) error {
	if f.Version != "" {
		return nil
	}
	res, _ := s.Charts.(charts.AppVersionResolver)
	ex := Extract(f.Workload, f.WorkloadSpec, f.Chart, f.Entry.Chart)
	v, note, err := ResolveChartVersion(ctx, res, repo, f.Chart, ex)
	if err != nil {
		return err
	}
	f.Version, f.VersionNote = v, note
	if v != "" {
		f.Notes = append(f.Notes, fmt.Sprintf("chart version %s found in the repository by the image tag %s (its appVersion)", v, ex.ImageTag))
	}
	return nil
}

// handOverTerraform completes Components Terraform created with spec.migration "terraform".
func (s *Scanner) handOverTerraform(ctx context.Context, cl *castwarev1.Cluster, apiKey string) error {
	list := &castwarev1.ComponentList{}
	if err := s.Client.List(ctx, list, client.InNamespace(cl.Namespace)); err != nil {
		return fmt.Errorf("list Components: %w", err)
	}
	var phase2 *bool
	for i := range list.Items {
		c := &list.Items[i]
		if c.Spec.Migration != castwarev1.MigrationTerraform || c.Spec.Cluster != cl.Name || !c.DeletionTimestamp.IsZero() {
			continue
		}
		entry, ok := s.Catalog.Lookup(c.Spec.Component, c.Labels)
		if !ok {
			continue // the Component controller reports unknown components
		}
		if entry.Phase == 2 {
			if phase2 == nil {
				ok, err := s.extendedPermissions(ctx, cl)
				if err != nil {
					return err
				}
				phase2 = &ok
			}
			if !*phase2 {
				continue
			}
		}
		f, err := s.detect(ctx, cl, entry, apiKey)
		if err != nil {
			return fmt.Errorf("%s: %w", c.Name, err)
		}
		obj := c.DeepCopy()
		patch := client.MergeFromWithOptions(obj.DeepCopy(), client.MergeFromWithOptimisticLock{})
		if err := TerraformHandover(obj, f, cl.Spec.MigrationMode); err != nil {
			return fmt.Errorf("%s: %w", c.Name, err)
		}
		if err := s.Client.Patch(ctx, obj, patch); err != nil {
			return fmt.Errorf("hand over Component %s: %w", c.Name, err)
		}
		what := "nothing installed: the component is installed fresh"
		if f != nil {
			what = "found " + f.Describe()
		}
		msg := fmt.Sprintf("handed over Terraform-created Component %s: %s; version %q (migrationMode %s)", c.Name, what, obj.Spec.Version, mode(cl))
		log.FromContext(ctx).Info("handed over a Terraform-created Component", "component", c.Name, "version", obj.Spec.Version, "migration", obj.Spec.Migration)
		s.event(cl, corev1.EventTypeNormal, "TerraformHandedOver", "Adopt", msg)
	}
	return nil
}

func (s *Scanner) event(cl *castwarev1.Cluster, typ, reason, action, note string) {
	if s.Recorder == nil {
		return
	}
	note = redact.String(note)
	if len(note) > 1000 {
		note = note[:1000] + "…"
	}
	s.Recorder.Eventf(cl, nil, typ, reason, action, "%s", note)
}

func mode(cl *castwarev1.Cluster) castwarev1.MigrationMode {
	if cl.Spec.MigrationMode == "" {
		return castwarev1.MigrationModeWrite
	}
	return cl.Spec.MigrationMode
}

func modeEffect(cl *castwarev1.Cluster, f *Found) string {
	switch mode(cl) {
	case castwarev1.MigrationModeRead:
		return "readonly, only the version is mirrored"
	case castwarev1.MigrationModeAutoUpgrade:
		return "adopted, then upgraded to the latest version"
	}
	if unknownVersion(f) {
		return "readonly, the installed chart version is unknown: " + f.VersionNote
	}
	if f.Version == "" {
		return "adopted; the installed version is unknown, so the latest version is used"
	}
	return "adopted at " + f.Version
}

// NewComponent builds the Component adopting f for Cluster cl in mode: write keeps the installed version,
// autoUpgrade leaves the version empty (the latest), read makes it readonly. It is a pure function.
func NewComponent(cl *castwarev1.Cluster, f *Found, m castwarev1.MigrationMode) (*castwarev1.Component, error) {
	if m == "" {
		m = castwarev1.MigrationModeWrite
	}
	c := &castwarev1.Component{
		ObjectMeta: metav1.ObjectMeta{Name: f.Entry.Component, Namespace: cl.Namespace,
			Annotations: map[string]string{AnnotationAdoptedFrom: f.Describe()}},
		Spec: castwarev1.ComponentSpec{Component: f.Entry.Component, Cluster: cl.Name, Enabled: true,
			Migration: f.Source, Readonly: m == castwarev1.MigrationModeRead},
	}
	if m != castwarev1.MigrationModeAutoUpgrade {
		c.Spec.Version = f.Version
		markVersionUnknown(c, f)
	}
	if f.ReleaseName != "" && f.ReleaseName != f.Entry.ReleaseName {
		c.Spec.ReleaseName = f.ReleaseName
	}
	if len(f.Values) > 0 {
		raw, err := json.Marshal(f.Values)
		if err != nil {
			return nil, fmt.Errorf("encode values: %w", err)
		}
		c.Spec.Values = &apiextensionsv1.JSON{Raw: raw}
	}
	return c, nil
}

// TerraformHandover completes a Component Terraform created with spec.migration "terraform", given what runs
// (f, nil when nothing does): the migration becomes how it is installed (helm, yaml, or "" for a fresh
// install); in write and read mode an empty version becomes the installed one, in autoUpgrade it stays empty
// (the latest); empty values take the installed settings; read mode makes an adopted Component readonly.
// Versions and values Terraform set are kept. It is a pure function.
func TerraformHandover(c *castwarev1.Component, f *Found, m castwarev1.MigrationMode) error {
	if m == "" {
		m = castwarev1.MigrationModeWrite
	}
	c.Spec.Migration = castwarev1.MigrationNone
	if f == nil {
		return nil
	}
	c.Spec.Migration = f.Source
	if c.Spec.Version == "" && m != castwarev1.MigrationModeAutoUpgrade {
		c.Spec.Version = f.Version
		markVersionUnknown(c, f)
	}
	if c.Spec.ReleaseName == "" && f.ReleaseName != "" && f.ReleaseName != f.Entry.ReleaseName {
		c.Spec.ReleaseName = f.ReleaseName
	}
	empty := c.Spec.Values == nil || len(c.Spec.Values.Raw) == 0 || string(c.Spec.Values.Raw) == "{}" || string(c.Spec.Values.Raw) == "null"
	if empty && len(f.Values) > 0 {
		raw, err := json.Marshal(f.Values)
		if err != nil {
			return fmt.Errorf("encode values: %w", err)
		}
		c.Spec.Values = &apiextensionsv1.JSON{Raw: raw}
	}
	if m == castwarev1.MigrationModeRead {
		c.Spec.Readonly = true
	}
	if c.Annotations == nil {
		c.Annotations = map[string]string{}
	}
	c.Annotations[AnnotationAdoptedFrom] = f.Describe()
	return nil
}

// unknownVersion reports whether f is a YAML install whose chart version could not be found.
func unknownVersion(f *Found) bool {
	return f.Source == castwarev1.MigrationYAML && f.Version == "" && f.VersionNote != ""
}

// markVersionUnknown makes a Component adopting a YAML install of unknown chart version readonly, saying what
// was looked for: installing any version would invent one (only autoUpgrade mode adopts it at the latest).
func markVersionUnknown(c *castwarev1.Component, f *Found) {
	if !unknownVersion(f) {
		return
	}
	c.Spec.Readonly = true
	if c.Annotations == nil {
		c.Annotations = map[string]string{}
	}
	c.Annotations[AnnotationVersionUnknown] = f.VersionNote
}
