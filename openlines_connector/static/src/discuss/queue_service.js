import { _t } from "@web/core/l10n/translation";
import { registry } from "@web/core/registry";
import { user } from "@web/core/user";

/**
 * Loads the queue of the operator's lines into Discuss and tells him of each new queued
 * dialog (``openlines.queue/new``, models/openlines_dialog_discuss.py), with a button to
 * preview it.
 */
export const openlinesQueueService = {
    dependencies: ["bus_service", "mail.store", "notification"],
    start(env, { bus_service, "mail.store": store, notification }) {
        if (!user.isInternalUser) {
            return;
        }
        store.fetchStoreData("/openlines/queue");
        user.hasGroup("openlines_connector.group_openlines_director").then((isDirector) => {
            store.openlinesIsDirector = isDirector;
        });
        bus_service.subscribe("openlines.queue/new", (payload) => {
            notification.add(
                _t("%(name)s (%(source)s) waits in the queue of %(line)s.", {
                    name: payload.name,
                    source: payload.source,
                    line: payload.line,
                }),
                {
                    title: _t("New dialog in the queue"),
                    type: "info",
                    buttons: [
                        {
                            name: _t("Preview"),
                            primary: true,
                            onClick: async () => {
                                const thread = await store.Thread.getOrFetch({
                                    model: "discuss.channel",
                                    id: payload.channel_id,
                                });
                                thread?.open({ focus: true });
                            },
                        },
                    ],
                }
            );
        });
    },
};

registry.category("services").add("openlines_queue", openlinesQueueService);
