-- Permissions you can grant (issue 18, PERM). A permission set is a named list of permissions
-- (`parley_core::access::Permission` names, space-separated); the four built-in roles are rows with
-- fixed ids and `builtin_role` set, seeded with exactly what each role could do before, so nothing
-- changes for an existing workspace. They can be edited but not deleted (the service refuses).
-- An agent's permissions: their role's set, and every set granted to them.
CREATE TABLE permission_sets (
    id           UUID PRIMARY KEY NOT NULL,
    name         TEXT NOT NULL UNIQUE,
    permissions  TEXT NOT NULL,
    builtin_role TEXT UNIQUE,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);

CREATE TABLE agent_permission_sets (
    agent_id          UUID NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    permission_set_id UUID NOT NULL REFERENCES permission_sets (id) ON DELETE CASCADE,
    PRIMARY KEY (agent_id, permission_set_id)
);
CREATE INDEX agent_permission_sets_set ON agent_permission_sets (permission_set_id);

-- A token may name a permission set: it then holds its role's set intersected with that set (and,
-- bound to an agent, with the agent's). Deleting a set a live token names is refused by the store.
ALTER TABLE api_tokens ADD COLUMN permission_set_id UUID REFERENCES permission_sets (id) ON DELETE SET NULL;

INSERT INTO permission_sets (id, name, permissions, builtin_role, created_at, updated_at)
    VALUES ('00000000-0000-0000-0000-000000000001', 'Admin', 'send_receive end_sessions agent_outbound send_one_to_many presence_status view_all_conversations view_queue_conversations supervise configure_messaging manage_users manage_flows manage_campaigns privacy_requests translate', 'admin', 0, 0);
INSERT INTO permission_sets (id, name, permissions, builtin_role, created_at, updated_at)
    VALUES ('00000000-0000-0000-0000-000000000002', 'Supervisor', 'send_receive end_sessions agent_outbound presence_status view_all_conversations view_queue_conversations supervise', 'supervisor', 0, 0);
INSERT INTO permission_sets (id, name, permissions, builtin_role, created_at, updated_at)
    VALUES ('00000000-0000-0000-0000-000000000003', 'Agent', 'send_receive end_sessions agent_outbound presence_status view_queue_conversations', 'agent', 0, 0);
INSERT INTO permission_sets (id, name, permissions, builtin_role, created_at, updated_at)
    VALUES ('00000000-0000-0000-0000-000000000004', 'Broadcaster', 'agent_outbound send_one_to_many presence_status manage_campaigns', 'broadcaster', 0, 0);
