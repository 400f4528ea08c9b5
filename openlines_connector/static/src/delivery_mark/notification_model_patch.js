import { Notification } from "@mail/core/common/notification_model";
import { _t } from "@web/core/l10n/translation";
import { patch } from "@web/core/utils/patch";

/**
 * The delivery mark of an operator's message in a messenger dialog: a
 * notification of type "openlines" (models/mail_notification.py), shown like
 * the envelope of an e-mail or the phone of an SMS.
 */
const OPENLINES = "openlines";
const ICONS = {
    ready: "fa fa-clock-o",
    pending: "fa fa-check",
    sent: "fa fa-check o-openlines-double-check",
    read: "fa fa-check o-openlines-double-check text-info",
    exception: "fa fa-exclamation-circle",
};

/** @type {import("models").Notification} */
const notificationPatch = {
    get icon() {
        if (this.notification_type === OPENLINES) {
            return ICONS[this.notification_status] || ICONS.ready;
        }
        return super.icon;
    },
    get statusIcon() {
        if (this.notification_type === OPENLINES) {
            return this.isFailure ? `${ICONS.exception} text-danger` : this.icon;
        }
        return super.statusIcon;
    },
    get statusTitle() {
        if (this.notification_type === OPENLINES) {
            switch (this.notification_status) {
                case "pending":
                    return _t("Sent");
                case "sent":
                    return _t("Delivered");
                case "read":
                    return _t("Read");
                case "exception":
                    return _t("Not delivered");
            }
            return _t("Waiting to be sent");
        }
        return super.statusTitle;
    },
    get failureMessage() {
        if (this.notification_type === OPENLINES) {
            return this.failure_reason || _t("Not delivered");
        }
        return super.failureMessage;
    },
    /** The tooltip of the mark next to the message. */
    get openlinesTitle() {
        if (this.notification_type !== OPENLINES) {
            return undefined;
        }
        if (this.isFailure) {
            return _t("Not delivered: %(error)s", { error: this.failureMessage });
        }
        return this.statusTitle;
    },
};
patch(Notification.prototype, notificationPatch);
