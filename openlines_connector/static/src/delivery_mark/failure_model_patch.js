import { Failure } from "@mail/core/common/failure_model";
import { _t } from "@web/core/l10n/translation";
import { patch } from "@web/core/utils/patch";

/** A message the messenger refused, in the messaging menu's failures. */
patch(Failure.prototype, {
    get body() {
        if (this.type === "openlines") {
            if (this.notifications.length === 1 && this.lastMessage?.thread) {
                return _t("A message could not be delivered to the client of “%(record_name)s”", {
                    record_name: this.lastMessage.thread.display_name,
                });
            }
            return _t("Messages could not be delivered to the client");
        }
        return super.body;
    },
});
