package buildspec

import "strings"

// The reports, artifacts and cache sections: what a build leaves behind.

const maxReportGroups = 5

var reportKeys = []string{"files", "base-directory", "discard-paths", "file-format"}

func (d *decoder) reports(f field) []Report {
	n := f.value
	switch n.kind {
	case kindNull:
		return nil
	case kindMap:
	default:
		d.errorf(nodePos(n), "reports", "must be a mapping of report group name (or ARN) to report, found %s", n.describe())
		return nil
	}
	var out []Report
	for i, g := range n.fields {
		path := joinPath("reports", g.key)
		if i == maxReportGroups {
			d.errorf(keyPos(g), path, "a buildspec may send reports to at most %d report groups, found %d", maxReportGroups, len(n.fields))
		}
		switch {
		case strings.TrimSpace(g.key) == "":
			d.errorf(keyPos(g), path, "the report group name is empty")
			continue
		case strings.HasPrefix(g.key, "arn:") && !strings.Contains(g.key, ":report-group/"):
			d.errorf(keyPos(g), path, "%q is not a report group ARN (arn:aws:codebuild:REGION:ACCOUNT:report-group/NAME)", clip(g.key))
			continue
		}
		r := Report{Group: g.key, Line: g.line, FileFormat: "JUNITXML"}
		fs := d.fields(g.value, path, reportKeys)
		if fs == nil {
			continue
		}
		if h, ok := fs["files"]; ok {
			r.Files = d.stringList(h, path+".files", "file path", true)
		} else {
			d.errorf(keyPos(g), path+".files", "files is required: list the report files")
		}
		if h, ok := fs["base-directory"]; ok {
			r.BaseDirectory, _ = d.requiredStr(h, path+".base-directory", "base-directory")
		}
		if h, ok := fs["discard-paths"]; ok {
			r.DiscardPaths = d.boolean(h, path+".discard-paths")
		}
		if h, ok := fs["file-format"]; ok {
			if s, ok := d.requiredStr(h, path+".file-format", "file-format"); ok {
				if up := strings.ToUpper(s); contains(reportFormats, up) {
					r.FileFormat = up
				} else {
					d.errorf(nodePos(h.value), path+".file-format", "unknown report file format %q: use one of %s", clip(s), strings.Join(reportFormats, ", "))
				}
			}
		}
		out = append(out, r)
	}
	return out
}

var (
	artifactKeys          = []string{"files", "name", "discard-paths", "base-directory", "exclude-paths", "enable-symlinks", "s3-prefix", "secondary-artifacts"}
	secondaryArtifactKeys = artifactKeys[:len(artifactKeys)-1]
)

func (d *decoder) artifacts(f field, path, identifier string, primary bool) *Artifacts {
	a := &Artifacts{Identifier: identifier, Line: f.line}
	allowed := artifactKeys
	if !primary {
		allowed = secondaryArtifactKeys
	}
	fs := d.fields(f.value, path, allowed)
	if fs == nil {
		return a
	}
	if g, ok := fs["files"]; ok {
		a.Files = d.stringList(g, path+".files", "file path", true)
	} else {
		msg := "files is required: list the files to upload"
		if primary {
			msg = "files is required whenever artifacts is present, even with only secondary artifacts: list the files to upload"
		}
		d.errorf(keyPos(f), path+".files", "%s", msg)
	}
	if g, ok := fs["name"]; ok {
		a.Name, _ = d.requiredStr(g, path+".name", "name")
	}
	if g, ok := fs["discard-paths"]; ok {
		a.DiscardPaths = d.boolean(g, path+".discard-paths")
	}
	if g, ok := fs["base-directory"]; ok {
		a.BaseDirectory, _ = d.requiredStr(g, path+".base-directory", "base-directory")
	}
	if g, ok := fs["exclude-paths"]; ok {
		a.ExcludePaths = d.stringList(g, path+".exclude-paths", "path", false)
	}
	if g, ok := fs["enable-symlinks"]; ok {
		a.EnableSymlinks = d.boolean(g, path+".enable-symlinks")
	}
	if g, ok := fs["s3-prefix"]; ok {
		a.S3Prefix, _ = d.requiredStr(g, path+".s3-prefix", "s3-prefix")
	}
	if g, ok := fs["secondary-artifacts"]; ok {
		a.Secondary = d.secondaryArtifacts(g, path+".secondary-artifacts")
	}
	return a
}

func (d *decoder) secondaryArtifacts(f field, path string) []Artifacts {
	n := f.value
	if n.kind == kindNull || (n.kind == kindMap && len(n.fields) == 0) {
		d.errorf(keyPos(f), path, "secondary-artifacts must name at least one artifact identifier")
		return nil
	}
	if n.kind != kindMap {
		d.errorf(nodePos(n), path, "must be a mapping of artifact identifier to artifact, found %s", n.describe())
		return nil
	}
	var out []Artifacts
	for _, g := range n.fields {
		p := joinPath(path, g.key)
		if strings.TrimSpace(g.key) == "" {
			d.errorf(keyPos(g), p, "the artifact identifier is empty")
			continue
		}
		out = append(out, *d.artifacts(g, p, g.key, false))
	}
	return out
}

const maxFallbackKeys = 5

func (d *decoder) cache(f field) *Cache {
	c := &Cache{Line: f.line}
	fs := d.fields(f.value, "cache", []string{"paths", "key", "fallback-keys", "action"})
	if fs == nil {
		return c
	}
	if g, ok := fs["paths"]; ok {
		c.Paths = d.stringList(g, "cache.paths", "path", true)
	} else {
		d.errorf(keyPos(f), "cache.paths", "paths is required when cache is present: list the paths to cache")
	}
	if g, ok := fs["key"]; ok {
		c.Key, _ = d.requiredStr(g, "cache.key", "key")
	}
	if g, ok := fs["fallback-keys"]; ok {
		c.FallbackKeys = d.stringList(g, "cache.fallback-keys", "key", false)
		if len(c.FallbackKeys) > maxFallbackKeys {
			d.errorf(nodePos(g.value), "cache.fallback-keys", "at most %d fallback keys are allowed, found %d", maxFallbackKeys, len(c.FallbackKeys))
		}
	}
	if g, ok := fs["action"]; ok {
		if s, ok := d.requiredStr(g, "cache.action", "action"); ok {
			switch low := strings.ToLower(s); low {
			case "restore", "save":
				c.Action = low
			default:
				d.errorf(nodePos(g.value), "cache.action", "unknown cache action %q: use restore or save (leave it out to do both)", clip(s))
			}
		}
	}
	return c
}
