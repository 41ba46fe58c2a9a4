package fileerr

import (
	"strings"
	"testing"
)

func TestRenderingSortingAndCap(t *testing.T) {
	es := Errors{
		{Line: 3, Column: 2, Field: "b", Message: "second"},
		{Message: "whole file"},
		{Line: 3, Column: 2, Field: "b", Message: "second"},
		{Line: 1, Message: "first, no column"},
		{Line: 9, Column: 1, Message: "cut"},
	}.Finish("f.yml", 3)
	want := "f.yml: whole file\nf.yml:1: first, no column\nf.yml:3:2: b: second\nf.yml: 1 more problems not shown; fix these first"
	if got := es.Error(); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	if got := (Error{Field: "x", Message: "m"}).Error(); got != "x: m" {
		t.Errorf("%q", got)
	}
	if got := (Errors{{Line: 2, Message: "m"}}).Finish("", 0).Error(); !strings.HasPrefix(got, "2: m") {
		t.Errorf("%q", got)
	}
}
