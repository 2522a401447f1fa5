package secretcache_test

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/castware-operator/castware-operator/internal/secretcache"
)

// counting counts the reads that reach kube-apiserver.
type counting struct {
	client.Reader
	gets int
}

func (c *counting) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	c.gets++
	return c.Reader.Get(ctx, key, obj, opts...)
}

func TestReaderReadsOncePerResourceVersion(t *testing.T) {
	ctx := context.Background()
	key := types.NamespacedName{Namespace: "castai-agent", Name: "castai-agent"}
	sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name}, Data: map[string][]byte{"API_KEY": []byte("one")}}
	store := fake.NewClientBuilder().WithObjects(sec).Build()
	live := &counting{Reader: store}
	r := secretcache.New(store, live)

	read := func(step string) string {
		t.Helper()
		got := &corev1.Secret{}
		if err := r.Get(ctx, key, got); err != nil {
			t.Fatalf("%s: %v", step, err)
		}
		return string(got.Data["API_KEY"])
	}
	steps := []struct {
		name      string
		change    func()
		want      string
		wantReads int
	}{
		{name: "first read goes to kube-apiserver", want: "one", wantReads: 1},
		{name: "unchanged: served from memory", want: "one", wantReads: 1},
		{name: "changed: read again", change: func() {
			cur := &corev1.Secret{}
			_ = store.Get(ctx, key, cur)
			cur.Data["API_KEY"] = []byte("two")
			if err := store.Update(ctx, cur); err != nil {
				t.Fatal(err)
			}
		}, want: "two", wantReads: 2},
		{name: "unchanged again", want: "two", wantReads: 2},
	}
	for _, s := range steps {
		if s.change != nil {
			s.change()
		}
		if got := read(s.name); got != s.want || live.gets != s.wantReads {
			t.Fatalf("%s: key %q after %d live reads, want %q after %d", s.name, got, live.gets, s.want, s.wantReads)
		}
	}
	// A copy handed out must not alias the kept one.
	got := &corev1.Secret{}
	_ = r.Get(ctx, key, got)
	got.Data["API_KEY"][0] = 'X'
	if v := read("after a caller modified its copy"); v != "two" {
		t.Fatalf("kept Secret was modified through a returned copy: %q", v)
	}
}

func TestReaderForgetsDeletedSecrets(t *testing.T) {
	ctx := context.Background()
	key := types.NamespacedName{Namespace: "castai-agent", Name: "gone"}
	sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name}}
	store := fake.NewClientBuilder().WithObjects(sec).Build()
	r := secretcache.New(store, store)
	if err := r.Get(ctx, key, &corev1.Secret{}); err != nil {
		t.Fatal(err)
	}
	if err := store.Delete(ctx, sec); err != nil {
		t.Fatal(err)
	}
	if err := r.Get(ctx, key, &corev1.Secret{}); err == nil {
		t.Fatal("a deleted Secret was still served from memory")
	}
}

func TestReaderRemembersAbsentSecretsUntilOneAppears(t *testing.T) {
	ctx := context.Background()
	key := types.NamespacedName{Namespace: "castai-agent", Name: "castai-cluster-controller"}
	store := fake.NewClientBuilder().Build()
	live := &counting{Reader: store}
	r := secretcache.New(store, live)
	for i := 0; i < 3; i++ {
		if err := r.Get(ctx, key, &corev1.Secret{}); !apierrors.IsNotFound(err) {
			t.Fatalf("read %d: %v, want not found", i, err)
		}
	}
	if live.gets != 1 {
		t.Fatalf("an absent Secret was read %d times from kube-apiserver, want once", live.gets)
	}
	if err := store.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name}}); err != nil {
		t.Fatal(err)
	}
	if err := r.Get(ctx, key, &corev1.Secret{}); err != nil || live.gets != 2 {
		t.Fatalf("after the Secret appeared: %v after %d live reads, want it read once more", err, live.gets)
	}
}
