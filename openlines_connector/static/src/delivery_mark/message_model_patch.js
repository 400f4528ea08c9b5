import { Message } from "@mail/core/common/message_model";
import { patch } from "@web/core/utils/patch";

/** An operator's message the messenger refused: it can be sent again. */
patch(Message.prototype, {
    get openlinesFailed() {
        return this.notification_ids.some(
            (notification) => notification.notification_type === "openlines" && notification.isFailure
        );
    },
    async openlinesRetry() {
        await this.store.env.services.orm.call("mail.message", "openlines_retry_delivery", [[this.id]]);
    },
});
