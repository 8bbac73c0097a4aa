FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 DJANGO_SETTINGS_MODULE=config.settings.production
RUN apt-get update && apt-get install -y --no-install-recommends gettext curl && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY requirements.txt .
# The lock pins every package with its hashes (scripts/lock.sh): nothing unexpected is installed.
RUN pip install --no-cache-dir --require-hashes -r requirements.txt
COPY . .
# collectstatic and compilemessages need settings but no real secrets or services: throw-away values, build only.
RUN export SECRET_KEY=build-only-$(head -c 48 /dev/urandom | base64) DATABASE_URL=sqlite:////tmp/build.db \
        REDIS_URL=redis://localhost ALLOWED_HOSTS=localhost SITE_URL=https://build.invalid \
        MAILBOX_ENCRYPTION_KEY=$(head -c 32 /dev/urandom | base64 | tr '+/' '-_') \
        WEB_PUSH_VAPID_SUBJECT=mailto:build@build.invalid \
        WEB_PUSH_VAPID_PRIVATE_KEY=$(DJANGO_SETTINGS_MODULE=config.settings.local python manage.py webpush_keys \
                                     | sed -n 's/^WEB_PUSH_VAPID_PRIVATE_KEY=//p') && \
    python manage.py collectstatic --noinput -v0 && python manage.py compilemessages -v0
RUN useradd --create-home opvolger && mkdir -p /app/var && chown opvolger /app/var
USER opvolger
EXPOSE 8000
CMD ["gunicorn", "config.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3", "--access-logfile", "-"]
