package controllers

import (
	"strings"
	"testing"

	castwarev1 "github.com/castware-operator/castware-operator/api/v1alpha1"
)

func TestChartVersionCarriesTheDigestPin(t *testing.T) {
	pin := "sha256:" + strings.Repeat("ab", 32)
	tests := []struct {
		name            string
		version, digest string
		want            string
	}{
		{"no pin", "1.2.3", "", "1.2.3"},
		{"pinned", "1.2.3", pin, "1.2.3@" + pin},
		{"latest cannot be pinned (the webhook refuses it)", "", pin, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := chartVersion(&castwarev1.ComponentSpec{Version: tt.version, ChartDigest: tt.digest}); got != tt.want {
				t.Fatalf("chartVersion = %q, want %q", got, tt.want)
			}
		})
	}
}
