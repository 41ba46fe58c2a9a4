package appspec

import "strings"

// parseACE checks one acls entry the way AWS's agent does and returns it in setfacl's full form
// ([default:]user|group|mask|other:[name]:rwx). Accepted: "u:bob:rw", "bob:rw" (a user),
// "g:ops:5", "d:u:bob:rwx", "default:group:ops:r-x", "m::rx". Base entries (u::rw) are refused:
// mode sets those. msg says what is wrong.
func parseACE(s string) (ace, msg string) {
	parts := strings.Split(s, ":")
	if len(parts) < 2 || len(parts) > 4 {
		return "", "not an ACL entry; write [d:]u|g|m|o:[name]:perms, e.g. u:bob:rw"
	}
	// Read from the right: perms, name, type, default.
	perms, name := parts[len(parts)-1], parts[len(parts)-2]
	var def bool
	typ := ""
	if len(parts) == 4 {
		if !isDefault(parts[0]) {
			return "", "the first of four parts must be d or default"
		}
		def = true
	}
	if len(parts) >= 3 {
		p := parts[len(parts)-3]
		switch {
		case isDefault(p):
			if def {
				return "", "default is given twice"
			}
			def = true
		case p == "m" || p == "mask":
			typ = "mask"
		case p == "o" || p == "other":
			typ = "other"
		case p == "g" || p == "group":
			typ = "group"
		case p == "u" || p == "user":
			typ = "user"
		default:
			return "", "the entry type must be u, g, m or o (user, group, mask, other)"
		}
	}
	switch {
	case name == "m" || name == "mask":
		if typ == "" {
			typ, name = "mask", ""
		}
	case name == "o" || name == "other":
		if typ == "" {
			typ, name = "other", ""
		}
	default:
		if typ == "" {
			typ = "user"
		}
	}
	if (typ == "mask" || typ == "other") && name != "" {
		return "", typ + " entries take no name"
	}
	if !def && typ != "mask" && name == "" {
		return "", "a base entry (no name) is set with mode, not acls"
	}
	rwx, ok := permBits(perms)
	if !ok {
		return "", "permissions must be r, w, x and - (or one octal digit)"
	}
	out := typ + ":" + name + ":" + rwx
	if def {
		out = "default:" + out
	}
	return out, ""
}

func isDefault(s string) bool { return s == "d" || s == "default" }

// permBits turns "rw", "r-x" or "6" into setfacl's rwx form.
func permBits(s string) (string, bool) {
	var r, w, x bool
	if len(s) == 1 && s[0] >= '0' && s[0] <= '7' {
		v := s[0] - '0'
		r, w, x = v&4 != 0, v&2 != 0, v&1 != 0
	} else {
		if s == "" {
			return "", false
		}
		for _, c := range s {
			switch c {
			case 'r':
				r = true
			case 'w':
				w = true
			case 'x':
				x = true
			case '-':
			default:
				return "", false
			}
		}
	}
	b := []byte("---")
	if r {
		b[0] = 'r'
	}
	if w {
		b[1] = 'w'
	}
	if x {
		b[2] = 'x'
	}
	return string(b), true
}
