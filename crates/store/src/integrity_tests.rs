//! Concurrent writers and references, on every backend: what the admin
//! API's parallel-writers suite relies on, checked at the store.

use mcpgate_catalog::{Credentials, Integration, UrlProvenance};

use crate::test_stores::{shared_stores, upstream};
use crate::{
    IntegrationId, NewAccount, NewServer, PortalRecord, PortalServer, ServerPatch, ServerSource,
    Store, StoreError,
};

const N: usize = 20;

fn crm() -> Integration {
    Integration::from_yaml(
        "name: crm\nbase_url: https://crm.example.com\nresources:\n  - name: contacts\n    methods:\n      - { kind: list, method: GET, path: /contacts }\n",
    )
    .unwrap()
}

fn portal(id: &str, upstreams: &[&str]) -> PortalRecord {
    PortalRecord {
        tenant: "acme".into(),
        id: id.into(),
        name: id.into(),
        description: None,
        servers: upstreams
            .iter()
            .map(|u| PortalServer {
                server_id: (*u).into(),
                default_disabled: false,
                enabled_tools: None,
                disabled_tools: None,
            })
            .collect(),
        prefix: true,
        pin_tools: false,
        server_id: String::new(),
        created_at: 1,
        created_by: None,
        modified_at: 1,
        modified_by: None,
    }
}

fn backing() -> NewServer {
    NewServer::new("acme", "portal", ServerSource::Unbound)
}

async fn live_keys(store: &Store, server: crate::ServerId) -> usize {
    store.list_server_keys(server).await.unwrap().len()
}

/// Run `n` copies of `f(i)` at once.
async fn parallel<T, F, Fut>(n: usize, f: F) -> Vec<T>
where
    F: Fn(usize) -> Fut,
    Fut: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let handles: Vec<_> = (0..n).map(|i| tokio::spawn(f(i))).collect();
    let mut out = Vec::with_capacity(n);
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_writes_to_one_server_all_succeed_and_leave_one_live_key_after_rotation() {
    let (stores, _dir) = shared_stores().await;
    for store in stores {
        let backend = store.backend().name();
        let (server, _) = store
            .create_server(NewServer::new(
                "t",
                "s",
                ServerSource::Toolset("demo".into()),
            ))
            .await
            .unwrap();
        let rotated = parallel(N, |_| {
            let store = store.clone();
            async move { store.rotate_keys(server.id, time::Duration::ZERO).await }
        })
        .await;
        for r in &rotated {
            assert!(matches!(r, Ok(Some(_))), "{backend}: rotate: {r:?}");
        }
        assert_eq!(
            live_keys(&store, server.id).await,
            1,
            "{backend}: one live key after rotations"
        );

        let added = parallel(N, |_| {
            let store = store.clone();
            async move { store.add_key(server.id, None).await }
        })
        .await;
        for r in &added {
            assert!(matches!(r, Ok(Some(_))), "{backend}: add key: {r:?}");
        }
        assert_eq!(live_keys(&store, server.id).await, N + 1, "{backend}");

        let patched = parallel(N, |i| {
            let store = store.clone();
            async move {
                store
                    .update_server(
                        server.id,
                        ServerPatch {
                            name: Some(format!("name-{i}")),
                            ..ServerPatch::default()
                        },
                    )
                    .await
            }
        })
        .await;
        for r in &patched {
            assert!(matches!(r, Ok(Some(_))), "{backend}: patch: {r:?}");
        }

        let victim = store.list_server_keys(server.id).await.unwrap()[0].id;
        let revoked = parallel(N, |_| {
            let store = store.clone();
            async move {
                store
                    .revoke_key(server.id, victim, time::Duration::ZERO)
                    .await
            }
        })
        .await;
        let won = revoked.iter().filter(|r| matches!(r, Ok(true))).count();
        let lost = revoked.iter().filter(|r| matches!(r, Ok(false))).count();
        assert_eq!((won, lost), (1, N - 1), "{backend}: {revoked:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_first_settings_make_one_server_with_one_key() {
    let (stores, _dir) = shared_stores().await;
    for store in stores {
        let backend = store.backend().name();
        let integration = store
            .create_integration("t", crm(), UrlProvenance::Operator)
            .await
            .unwrap();
        let saved = parallel(N, |_| {
            let store = store.clone();
            async move {
                store
                    .save_integration_settings(
                        NewServer {
                            integration_id: Some(integration.id),
                            mint_key: false,
                            ..NewServer::new("t", "crm MCP", ServerSource::Unbound)
                        },
                        ServerPatch {
                            disabled: Some(false),
                            ..ServerPatch::default()
                        },
                    )
                    .await
            }
        })
        .await;
        let mut servers = std::collections::HashSet::new();
        let mut minted = 0;
        for r in saved {
            let (server, key) = r.unwrap_or_else(|e| panic!("{backend}: {e}"));
            servers.insert(server.id);
            minted += usize::from(key.is_some());
        }
        assert_eq!(servers.len(), 1, "{backend}: one settings server");
        assert_eq!(minted, 1, "{backend}: the key is minted once");
        let server = *servers.iter().next().unwrap();
        assert_eq!(
            store.all_server_keys(server).await.unwrap().len(),
            1,
            "{backend}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_creates_of_one_portal_leave_one_portal_and_no_orphans() {
    let (stores, _dir) = shared_stores().await;
    for store in stores {
        let backend = store.backend().name();
        store.create_upstream(&upstream("crm"), None).await.unwrap();
        let created = parallel(N, |_| {
            let store = store.clone();
            async move { store.create_portal(portal("p", &["crm"]), backing()).await }
        })
        .await;
        let won = created.iter().filter(|r| r.is_ok()).count();
        let refused = created
            .iter()
            .filter(|r| matches!(r, Err(StoreError::Conflict(_))))
            .count();
        assert_eq!((won, refused), (1, N - 1), "{backend}");
        let servers: Vec<_> = store
            .list_servers()
            .await
            .unwrap()
            .into_iter()
            .filter(|s| matches!(s.source, ServerSource::Portal(_)))
            .collect();
        assert_eq!(servers.len(), 1, "{backend}: no orphan backing servers");
        assert_eq!(live_keys(&store, servers[0].id).await, 1, "{backend}");
        assert_eq!(
            store.list_active_keys().await.unwrap().len(),
            1,
            "{backend}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_portal_and_the_delete_of_its_upstream_never_both_succeed() {
    let (stores, _dir) = shared_stores().await;
    for store in stores {
        let backend = store.backend().name();
        for round in 0..10 {
            let up = format!("u{round}");
            store.create_upstream(&upstream(&up), None).await.unwrap();
            let (a, b) = (store.clone(), store.clone());
            let pid = format!("p{round}");
            let (p, up2) = (pid.clone(), up.clone());
            let create =
                tokio::spawn(async move { a.create_portal(portal(&p, &[&up2]), backing()).await });
            let up3 = up.clone();
            let delete = tokio::spawn(async move { b.delete_upstream("acme", &up3).await });
            let (created, deleted) = (create.await.unwrap(), delete.await.unwrap());
            match (&created, &deleted) {
                (Ok(_), Err(StoreError::Conflict(_)))
                | (Err(StoreError::Conflict(_)), Ok(true)) => {}
                other => panic!("{backend}: round {round}: {other:?}"),
            }
            let portal_there = store
                .list_portals()
                .await
                .unwrap()
                .iter()
                .any(|p| p.id == pid);
            let upstream_there = store.get_upstream("acme", &up).await.unwrap().is_some();
            assert!(
                !portal_there || upstream_there,
                "{backend}: a portal lists a deleted upstream"
            );
        }
        let orphans = store
            .list_servers()
            .await
            .unwrap()
            .into_iter()
            .filter(|s| matches!(s.source, ServerSource::Portal(_)))
            .count();
        assert_eq!(
            orphans,
            store.list_portals().await.unwrap().len(),
            "{backend}"
        );
    }
}

#[tokio::test]
async fn what_others_refer_to_cannot_be_deleted_and_references_must_exist() {
    let (stores, _dir) = shared_stores().await;
    for store in stores {
        let backend = store.backend().name();
        // A portal's backing server goes only with the portal.
        store.create_upstream(&upstream("crm"), None).await.unwrap();
        let (p, server, _) = store
            .create_portal(portal("p", &["crm"]), backing())
            .await
            .unwrap();
        let e = store.delete_server(server.id).await.unwrap_err();
        assert!(
            matches!(&e, StoreError::Conflict(m) if m.contains("\"p\"")),
            "{backend}: {e}"
        );
        let e = store.delete_upstream("acme", "crm").await.unwrap_err();
        assert!(
            matches!(&e, StoreError::Conflict(m) if m.contains('p')),
            "{backend}: {e}"
        );
        // A portal cannot list an upstream that does not exist.
        let mut changed = p.clone();
        changed.servers = portal("p", &["gone"]).servers;
        assert!(
            matches!(
                store.update_portal(&changed).await,
                Err(StoreError::Conflict(_))
            ),
            "{backend}"
        );
        assert_eq!(
            store.list_portals().await.unwrap(),
            vec![p.clone()],
            "{backend}: unchanged"
        );
        assert!(
            matches!(
                store.create_portal(portal("q", &["gone"]), backing()).await,
                Err(StoreError::Conflict(_))
            ),
            "{backend}"
        );
        assert_eq!(
            store.list_servers().await.unwrap().len(),
            1,
            "{backend}: nothing half-made"
        );

        // A server over an account needs the account; the account is kept
        // while a server uses it.
        let integration = store
            .create_integration("acme", crm(), UrlProvenance::Operator)
            .await
            .unwrap();
        let account = store
            .create_account(NewAccount {
                tenant: "acme".into(),
                integration_id: integration.id,
                name: None,
                base_url: None,
                context: Default::default(),
                credentials: Credentials::None,
                url_provenance: UrlProvenance::Operator,
            })
            .await
            .unwrap();
        let missing = crate::AccountId::new();
        assert!(
            matches!(
                store
                    .create_server(NewServer::new("acme", "s", ServerSource::Account(missing)))
                    .await,
                Err(StoreError::Conflict(_))
            ),
            "{backend}"
        );
        let (over, _) = store
            .create_server(NewServer::new(
                "acme",
                "s",
                ServerSource::Account(account.id),
            ))
            .await
            .unwrap();
        assert!(matches!(
            store.delete_account(account.id).await,
            Err(StoreError::Conflict(_))
        ));
        assert!(
            matches!(
                store
                    .update_server(
                        over.id,
                        ServerPatch {
                            source: Some(ServerSource::Account(missing)),
                            ..ServerPatch::default()
                        }
                    )
                    .await,
                Err(StoreError::Conflict(_))
            ),
            "{backend}"
        );

        // Settings need their integration, and go with it.
        assert!(
            matches!(
                store
                    .create_server(NewServer {
                        integration_id: Some(IntegrationId::new()),
                        ..NewServer::new("acme", "settings", ServerSource::Unbound)
                    })
                    .await,
                Err(StoreError::Conflict(_))
            ),
            "{backend}"
        );
        let other = store
            .create_integration(
                "acme",
                Integration {
                    name: "other".into(),
                    ..crm()
                },
                UrlProvenance::Operator,
            )
            .await
            .unwrap();
        let (settings, _) = store
            .create_server(NewServer {
                integration_id: Some(other.id),
                ..NewServer::new("acme", "settings", ServerSource::Unbound)
            })
            .await
            .unwrap();
        assert!(
            store.delete_integration(other.id).await.unwrap(),
            "{backend}"
        );
        assert!(
            store.get_server(settings.id).await.unwrap().is_none(),
            "{backend}: the settings go with their integration"
        );
    }
}
