package main

import (
	"errors"
	"fmt"

	"github.com/rs/zerolog"

	"github.com/exactsync/exactsync/config"
	"github.com/exactsync/exactsync/sink"
	"github.com/exactsync/exactsync/sink/seal"
)

type authRotateKeyCmd struct{}

// Run re-encrypts every stored secret that is plaintext or sealed with an
// old key (EXACTSYNC_ENCRYPTION_KEY_OLD) with the current key
// (EXACTSYNC_ENCRYPTION_KEY, or the one exactsync generated), in one transaction
// holding every connection's row lock, so a refresh in progress elsewhere is
// waited for, never lost.
func (authRotateKeyCmd) Run(e *env) error {
	cfg, err := loadConfig(e, config.Needs{Database: true})
	if err != nil {
		return err
	}
	switch {
	case cfg.Unencrypted:
		return usageError{errors.New(config.EnvEncryptionKey + "=" + config.KeyNone + " stores secrets unencrypted: set it (or " + config.EnvEncryptionKeyFile +
			") to the key to encrypt them with")}
	case cfg.Keyring == nil:
		return usageError{errors.New(config.EnvEncryptionKey + " is not set: set it (or " + config.EnvEncryptionKeyFile +
			") to the new key, and " + config.EnvEncryptionKeyOld + " to the key the secrets are encrypted with now, if any")}
	}
	log := newLogger(cfg, e.stderr)
	st, err := openStore(e, cfg, log)
	if err != nil {
		return err
	}
	defer st.Close()
	n, err := st.RotateSecrets(e.ctx)
	if err != nil {
		return err
	}
	n += e.sealedAtStart // plain text the start sealed with the current key already
	log.Info().Int("values", n).Str("key_id", cfg.Keyring.CurrentID()).Msg("re-encrypted stored secrets")
	fmt.Fprintf(e.stdout, "re-encrypted %d stored secrets with key %s\n", n, cfg.Keyring.CurrentID())
	return nil
}

// sealingKey gives a process with no key configured, none generated yet and no opt-out
// (EXACTSYNC_ENCRYPTION_KEY=none) the key its secrets need. When the database's secrets
// are sealed, or are to be sealed, with a key this process does not have, it refuses with
// one line naming that key and how to provide it, changing nothing. Otherwise, when
// secrets are stored as plaintext, or need is set (the command is about to store one),
// it generates a key into the state directory (sink.Store.GenerateKey, which seals the
// plaintext ones with it) and says once where it is.
func sealingKey(e *env, cfg *config.Config, st *sink.Store, log zerolog.Logger, need bool) error {
	if cfg.Keyring != nil || cfg.Unencrypted {
		return nil
	}
	if keys := st.Keyring(); keys != nil { // another process generated it since the start
		cfg.Keyring, cfg.KeySource = keys, config.KeyGenerated
		return nil
	}
	state, err := st.KeyState(e.ctx)
	if err != nil {
		return err
	}
	if err := state.Missing(); err != nil {
		return keyRefusal(cfg, err)
	}
	if !need && state.Plaintext == 0 {
		return nil // nothing to seal yet: no key is made before one is needed
	}
	if cfg.KeyFile == "" {
		return usageError{fmt.Errorf("secrets are to be stored and there is no encryption key: set %s (32 random bytes, e.g. `openssl rand -base64 32`) or %s, or %s for a directory where exactsync keeps a key it generates, or %s=%s to store them unencrypted",
			config.EnvEncryptionKey, config.EnvEncryptionKeyFile, config.EnvStateDir, config.EnvEncryptionKey, config.KeyNone)}
	}
	keys, generated, err := st.GenerateKey(e.ctx, cfg.KeyFile)
	if err != nil {
		if errors.Is(err, seal.ErrNoKey) {
			return keyRefusal(cfg, err)
		}
		return err
	}
	cfg.Keyring, cfg.KeySource = keys, config.KeyGenerated
	if generated {
		log.Warn().Str("key_id", keys.CurrentID()).Str("path", cfg.KeyFile).
			Msg("generated the encryption key of the stored secrets into " + cfg.KeyFile + ": keep it (the secrets cannot be read without it); " +
				"production deployments should set " + config.EnvEncryptionKey + " or " + config.EnvEncryptionKeyFile + " instead")
	}
	return nil
}

// keyRefusal is the one line of a process that lacks the key of the stored secrets; it
// has changed nothing.
func keyRefusal(cfg *config.Config, err error) error {
	return usageError{fmt.Errorf("refusing to start: %s", keyProblem(cfg, err))}
}

// keyProblem says which key the stored secrets need, what this process has, and how to
// give it the right one.
func keyProblem(cfg *config.Config, err error) string {
	var missing *sink.KeyMissingError
	if !errors.As(err, &missing) {
		// A key is configured or generated, and it is not the one (seal names the key).
		var have string
		switch {
		case cfg.Unencrypted:
			have = fmt.Sprintf(" (%s=%s cannot read them)", config.EnvEncryptionKey, config.KeyNone)
		case cfg.KeySource == config.KeyGenerated:
			have = fmt.Sprintf(" (this process has key %s, generated into %s)", cfg.Keyring.CurrentID(), cfg.KeyFile)
		case cfg.Keyring != nil:
			have = fmt.Sprintf(" (this process has key %s, from %s)", cfg.Keyring.CurrentID(), cfg.KeySource)
		}
		return err.Error() + have
	}
	have := "no " + config.EnvEncryptionKey + " and no state directory"
	if cfg.KeyFile != "" {
		have = "no " + config.EnvEncryptionKey + " and no " + cfg.KeyFile
	}
	how := "set " + config.EnvEncryptionKey + " (or " + config.EnvEncryptionKeyFile + ") to that key"
	if missing.Generated && cfg.StateDir != "" {
		how += ", or copy the " + seal.KeyFile + " of the exactsync that generated it into " + cfg.StateDir
	}
	return fmt.Sprintf("%s (%s); %s", missing.Error(), have, how)
}
