package main

import (
	"errors"
	"fmt"

	"github.com/exactsync/exactsync/config"
)

type authRotateKeyCmd struct{}

// Run re-encrypts every stored secret that is plaintext or sealed with an
// old key (EXACTSYNC_ENCRYPTION_KEY_OLD) with the current key
// (EXACTSYNC_ENCRYPTION_KEY), in one transaction holding every connection's
// row lock, so a refresh in progress elsewhere is waited for, never lost.
func (authRotateKeyCmd) Run(e *env) error {
	cfg, err := loadConfig(e, config.Needs{Database: true})
	if err != nil {
		return err
	}
	if cfg.Keyring == nil {
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
	log.Info().Int("values", n).Str("key_id", cfg.Keyring.CurrentID()).Msg("re-encrypted stored secrets")
	fmt.Fprintf(e.stdout, "re-encrypted %d stored secrets with key %s\n", n, cfg.Keyring.CurrentID())
	return nil
}
