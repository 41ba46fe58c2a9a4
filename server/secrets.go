package server

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/conveyorci/conveyor/server/auth"
	"github.com/conveyorci/conveyor/server/rest"
	"github.com/conveyorci/conveyor/store"
)

// Secrets are the secret store's REST endpoints (admin only). Values go in and are never given back.
type Secrets struct {
	DB     *store.DB
	Sealer *store.Sealer
	Log    *slog.Logger
}

// SecretView is a secret's metadata.
type SecretView struct {
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	Version     int    `json:"version"`
	Created     int64  `json:"created"`
	Updated     int64  `json:"updated"`
}

func secretView(s store.Secret) SecretView {
	return SecretView{Name: s.Name, Description: s.Description, Version: s.Version, Created: s.Created.Unix(), Updated: s.Updated.Unix()}
}

// secretNamePattern accepts parameter-store names (/a/b) and secrets-manager ids (a/b-c, ARNs).
var secretNamePattern = regexp.MustCompile(`^[A-Za-z0-9/_+=.@:-]{1,512}$`)

// MaxSecretSize caps a secret value (Secrets Manager's limit is 64 KiB).
const MaxSecretSize = 64 << 10

func (s *Secrets) routes(r chi.Router, log *slog.Logger) {
	r.Get("/secrets", rest.Handle(log, s.list))
	r.Put("/secrets/*", rest.Handle(log, s.put))
	r.Get("/secrets/*", rest.Handle(log, s.get))
	r.Delete("/secrets/*", rest.Handle(log, s.delete))
}

func (s *Secrets) name(r *http.Request) (string, error) {
	n := chi.URLParam(r, "*")
	if !secretNamePattern.MatchString(n) || strings.Contains(n, "..") {
		return "", rest.BadRequest("secret name %q: 1-512 characters of letters, digits and / _ + = . @ : -", n)
	}
	return n, nil
}

func (s *Secrets) put(w http.ResponseWriter, r *http.Request) error {
	name, err := s.name(r)
	if err != nil {
		return err
	}
	var in struct {
		Value       *string `json:"value"`
		Description string  `json:"description"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, MaxSecretSize*2)).Decode(&in); err != nil {
		return rest.BadRequest("body must be JSON {\"value\": …, \"description\": …}")
	}
	if in.Value == nil || *in.Value == "" {
		return rest.BadRequest("value is required")
	}
	if len(*in.Value) > MaxSecretSize {
		return rest.BadRequest("a secret value is at most 64 KiB")
	}
	var meta store.Secret
	err = s.DB.Write(r.Context(), func(tx *store.Tx) error {
		var err error
		meta, err = tx.PutSecret(r.Context(), s.Sealer, name, *in.Value, in.Description)
		return err
	})
	if err != nil {
		return err
	}
	id, _ := auth.FromContext(r.Context())
	s.Log.Info("secret stored", "secret", name, "version", meta.Version, "by", id.Name)
	return rest.JSON(w, http.StatusOK, secretView(meta))
}

func (s *Secrets) get(w http.ResponseWriter, r *http.Request) error {
	name, err := s.name(r)
	if err != nil {
		return err
	}
	meta, err := s.DB.Read().SecretMetadata(r.Context(), name)
	if err != nil {
		return err
	}
	return rest.JSON(w, http.StatusOK, secretView(meta))
}

func (s *Secrets) list(w http.ResponseWriter, r *http.Request) error {
	list, err := s.DB.Read().ListSecrets(r.Context())
	if err != nil {
		return err
	}
	out := make([]SecretView, 0, len(list))
	for _, m := range list {
		out = append(out, secretView(m))
	}
	return rest.JSON(w, http.StatusOK, map[string]any{"secrets": out})
}

func (s *Secrets) delete(w http.ResponseWriter, r *http.Request) error {
	name, err := s.name(r)
	if err != nil {
		return err
	}
	if err := s.DB.Write(r.Context(), func(tx *store.Tx) error { return tx.DeleteSecret(r.Context(), name) }); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return rest.Errorf(http.StatusNotFound, "ResourceNotFoundException", "%s", "secret "+name+" does not exist")
		}
		return err
	}
	id, _ := auth.FromContext(r.Context())
	s.Log.Info("secret deleted", "secret", name, "by", id.Name)
	w.WriteHeader(http.StatusNoContent)
	return nil
}
