package slack

import (
	"os"
	"slices"
	"testing"

	"gopkg.in/yaml.v3"
)

// TestManifestAsksForWhatGantryUses keeps slack-app-manifest.yml to exactly
// the scopes and events this package uses.
func TestManifestAsksForWhatGantryUses(t *testing.T) {
	data, err := os.ReadFile("../../slack-app-manifest.yml")
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		Features struct {
			SlashCommands []struct {
				Command      string `yaml:"command"`
				ShouldEscape bool   `yaml:"should_escape"`
			} `yaml:"slash_commands"`
			AppHome struct {
				MessagesTab bool `yaml:"messages_tab_enabled"`
				ReadOnly    bool `yaml:"messages_tab_read_only_enabled"`
			} `yaml:"app_home"`
		} `yaml:"features"`
		OAuth struct {
			Scopes struct {
				Bot []string `yaml:"bot"`
			} `yaml:"scopes"`
		} `yaml:"oauth_config"`
		Settings struct {
			Events struct {
				Bot []string `yaml:"bot_events"`
			} `yaml:"event_subscriptions"`
			Interactivity struct {
				Enabled bool `yaml:"is_enabled"`
			} `yaml:"interactivity"`
			SocketMode bool `yaml:"socket_mode_enabled"`
		} `yaml:"settings"`
	}
	if err := yaml.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	// What convert acts on.
	events := []string{"app_mention", "message.im", "reaction_added"}
	// Why each scope is there: the events above, the methods in WebAPI.
	scopes := []string{
		"app_mentions:read", // app_mention
		"chat:write",        // chat.postMessage, chat.update, chat.postEphemeral
		"commands",          // the slash command
		"files:write",       // files.getUploadURLExternal, files.completeUploadExternal
		"im:history",        // message.im, and conversations.replies in direct messages
		"reactions:read",    // reaction_added
		"usergroups:read",   // usergroups.list, usergroups.users.list: groups by ID or @handle
		"channels:history",  // conversations.history and .replies: findPosted
		"groups:history",    // the same in private channels
		"channels:read",     // conversations.info: is the bot in a slash command's channel; conversations.list: #names
		"groups:read",       // the same for private channels
		"users:read",        // users.info: display names on pages and in the console; users.list: @names
		"users:read.email",  // users.lookupByEmail: a failed build mentions its commit's author
	}
	if got := slices.Sorted(slices.Values(m.OAuth.Scopes.Bot)); !slices.Equal(got, slices.Sorted(slices.Values(scopes))) {
		t.Errorf("manifest scopes %v, want %v", got, scopes)
	}
	if got := slices.Sorted(slices.Values(m.Settings.Events.Bot)); !slices.Equal(got, events) {
		t.Errorf("manifest events %v, want %v", got, events)
	}
	if !m.Settings.SocketMode || !m.Settings.Interactivity.Enabled {
		t.Error("the manifest must enable Socket Mode and interactivity")
	}
	if len(m.Features.SlashCommands) != 1 || m.Features.SlashCommands[0].Command != "/gantry" {
		t.Errorf("slash commands = %+v, want /gantry", m.Features.SlashCommands)
	}
	if !m.Features.AppHome.MessagesTab || m.Features.AppHome.ReadOnly {
		t.Error("people must be able to write to the bot in its Messages tab")
	}
}
